import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { jsonSchema } from '../../src/config/schema.js';
import { DEFAULT_IMAGES } from '../../src/plan/images.js';

function problems(text: string): string[] {
  try {
    parseConfig(text);
  } catch (error) {
    return (error as { details: string[] }).details;
  }
  return [];
}

describe('berth.yaml', () => {
  it('works empty: every field has a default', () => {
    const config = parseConfig('');
    expect(config.agent.image).toBe(DEFAULT_IMAGES.agent);
    expect(config.postgres.image).toBe(DEFAULT_IMAGES.postgres);
    expect(config.ports.range).toBe('20000-29999');
    expect(config.envFile).toBe('.env.local');
    expect(config.worktree.branchPrefix).toBe('berth/');
    expect(config.agent.resources).toEqual({ cpus: 2, memory: '2g', pids: 1024 });
  });

  it('refuses a memory limit the engine would refuse (under 6m), at the field', () => {
    expect(problems('agent:\n  resources: { memory: 1k }\n')).toEqual([
      'agent.resources.memory: at least 6m: the engine refuses a smaller limit',
    ]);
    expect(problems('agent:\n  resources: { memory: 5.9m }\n')).toHaveLength(1);
    expect(problems('agent:\n  resources: { memory: 6m }\n')).toEqual([]);
    expect(problems('agent:\n  resources: { memory: 0.5g }\n')).toEqual([]);
  });

  it('reads the example app config', () => {
    const config = parseConfig(readFileSync('examples/notes-app/berth.yaml', 'utf8'));
    expect(config.ports.app).toEqual({ web: 3000 });
    expect(config.hooks.setup).toHaveLength(1);
  });

  it('lists one line per bad field', () => {
    expect(
      problems(
        'agent:\n  image: 42\n  resources: { cpus: -1, pids: 1e9 }\nports: { range: "30000-20000" }\nextra: 1\n',
      ),
    ).toEqual([
      'agent.image: Invalid input: expected string, received number',
      'agent.resources.cpus: Too small: expected number to be >0',
      'agent.resources.pids: Too big: expected number to be <=1000000',
      'ports.range: expected 1024 <= LOW <= HIGH <= 65535',
      'extra: unknown field',
    ]);
  });

  it('refuses unknown nested keys and a top level that is not a mapping', () => {
    expect(problems('redis:\n  enable: true\n')).toEqual(['redis.enable: unknown field']);
    expect(problems('- a\n- b\n')).toHaveLength(1);
  });

  it('makes Postgres optional, and refuses a warm pool without it', () => {
    expect(parseConfig('').postgres.enabled).toBe(true);
    expect(parseConfig('postgres: { enabled: false }').postgres.enabled).toBe(false);
    expect(problems('postgres: { enabled: false }\npool: { size: 2 }\n')).toEqual([
      'pool.size: a warm pool keeps Postgres running; it needs postgres.enabled',
    ]);
  });

  it('gives agents made by Claude Code a short time to live and light subagent environments by default', () => {
    expect(parseConfig('').claude).toEqual({ ttl: '2m', subagents: 'light' });
    expect(parseConfig('claude: { ttl: 5s, subagents: full }').claude).toEqual({
      ttl: '5s',
      subagents: 'full',
    });
    expect(problems('claude: { subagents: some }')).toHaveLength(1);
  });

  it('reads the older names of the time to live (leaseTtl, claude.lease) as ttl, says so, and refuses both at once', () => {
    const notes: string[] = [];
    const config = parseConfig('leaseTtl: 45m\nclaude: { lease: 5s }\n', 'berth.yaml', {
      root: '/nowhere',
      imports: false,
      notes: (line) => notes.push(line),
    });
    expect(config.ttl).toBe('45m');
    expect(config.claude.ttl).toBe('5s');
    expect(notes).toEqual([
      'berth.yaml: leaseTtl is read as ttl (its name now)',
      'berth.yaml: claude.lease is read as claude.ttl (its name now)',
    ]);
    // An agent's kept copy of an older config (read with no notes) reads the same.
    expect(parseConfig('leaseTtl: 45m\n').ttl).toBe('45m');
    expect(() => parseConfig('leaseTtl: 45m\nttl: 1h\n')).toThrow(/has both leaseTtl and ttl/);
    expect(() => parseConfig('claude: { lease: 5s, ttl: 6s }\n')).toThrow(
      /has both claude.lease and claude.ttl/,
    );
    expect(problems('claude: 3\n')).toHaveLength(1);
    // A bad value is said under the name written.
    expect(problems('leaseTtl: 0s\nclaude: { lease: 0s }\n').sort()).toEqual([
      'claude.lease (read as claude.ttl): expected a duration above zero, such as "90s"',
      'leaseTtl (read as ttl): expected a duration above zero, such as "90s"',
    ]);
  });

  it('says where the YAML breaks', () => {
    expect(() => parseConfig('agent: [unclosed\n')).toThrow(/not valid YAML at line \d+, column \d+/);
  });

  it('refuses aliases that expand without bound (a billion laughs) with one line, not a crash', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const bomb = `${levels.join('\n')}\nagent:\n  env: *i\n`;
    expect(() => parseConfig(bomb)).toThrow(
      expect.objectContaining({ code: 'config-yaml', message: expect.stringMatching(/aliases that expand/) }),
    );
  });

  it('refuses durations of zero, as it refuses the number 0 (agents born expired, every hook timed out)', () => {
    expect(problems('ttl: 0s\nhookTimeout: 0m\n').sort()).toEqual([
      'hookTimeout: expected a duration above zero, such as "90s"',
      'ttl: expected a duration above zero, such as "90s"',
    ]);
    expect(problems('ttl: 0\n')).toHaveLength(1);
    expect(parseConfig('ttl: 90s\n').ttl).toBe('90s');
  });

  it('refuses durations past 24 days (a longer timer fires at once), and takes 24d itself', () => {
    expect(problems('hookTimeout: 30d\nttl: 2073601\n').sort()).toEqual([
      "hookTimeout: expected at most 24d (berth's timers cannot wait longer)",
      "ttl: expected at most 24d (berth's timers cannot wait longer)",
    ]);
    expect(parseConfig('hookTimeout: 24d\n').hookTimeout).toBe('24d');
  });

  it('ships a JSON schema for editors that matches the zod schema', () => {
    const shipped = JSON.parse(readFileSync('templates/berth.schema.json', 'utf8'));
    expect(shipped).toEqual(jsonSchema());
  });
});
