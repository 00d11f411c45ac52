import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
const hook = (event: string, input: Record<string, unknown>) =>
  execa(process.execPath, [BIN, 'agent-hooks', 'claude', event], {
    input: JSON.stringify(input),
    reject: false,
  });

beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo.cleanup());

describe('agent-hooks install claude', () => {
  it('merges into existing local settings, prints the change on a dry run, and is idempotent', async () => {
    const file = join(repo.root, '.claude', 'settings.local.json');
    mkdirSync(join(repo.root, '.claude'));
    const mine = {
      permissions: { allow: ['Bash(npm test)'] },
      hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'echo mine' }] }] },
    };
    writeFileSync(file, `${JSON.stringify(mine, null, 2)}\n`);
    const dry = await berth(['agent-hooks', 'install', 'claude', '--dry-run', '--repo', repo.root]);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('+ ');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(mine);
    const done = resultOf(
      await berth(['agent-hooks', 'install', 'claude', '--repo', repo.root, '--json']),
      'agent-hooks install',
    );
    expect(done.changed).toBe(true);
    const settings = JSON.parse(readFileSync(file, 'utf8'));
    expect(settings.permissions).toEqual(mine.permissions);
    expect(settings.hooks.PreToolUse).toEqual(mine.hooks.PreToolUse);
    for (const event of ['WorktreeCreate', 'WorktreeRemove', 'SessionEnd'])
      expect(settings.hooks[event][0].hooks[0].command).toContain('agent-hooks claude');
    const again = resultOf(
      await berth(['agent-hooks', 'install', 'claude', '--repo', repo.root, '--json']),
      'agent-hooks install',
    );
    expect(again.changed).toBe(false);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(settings);
    // The hook commands are this machine's: the file stays out of git.
    expect(await repo.git('status', '--porcelain', '--', '.claude')).toBe('');
    expect(readFileSync(join(repo.root, '.git', 'info', 'exclude'), 'utf8')).toContain(
      '/.claude/settings.local.json',
    );
  });

  it('takes the hooks an older berth wrote into the shared settings.json out of it, leaving the rest', async () => {
    const shared = join(repo.root, '.claude', 'settings.json');
    const older = {
      permissions: { allow: ['Bash(ls)'] },
      hooks: {
        WorktreeCreate: [
          {
            hooks: [
              { type: 'command', command: '/old/node /old/berth.mjs agent-hooks claude worktree-create' },
            ],
          },
        ],
        Stop: [{ hooks: [{ type: 'command', command: 'echo stop' }] }],
      },
    };
    writeFileSync(shared, JSON.stringify(older));
    const done = resultOf(
      await berth(['agent-hooks', 'install', 'claude', '--repo', repo.root, '--json']),
      'agent-hooks install',
    );
    expect(done.changed).toBe(true);
    expect(JSON.parse(readFileSync(shared, 'utf8'))).toEqual({
      permissions: older.permissions,
      hooks: { Stop: older.hooks.Stop },
    });
  });
});

// The hooks as the real Claude Code runs them, with what it really sends: test/docker/claude-code.test.ts.
describe('the Claude Code hooks, on input Claude Code does not send today', () => {
  it('refuses input that is not JSON in one line', async () => {
    const bad = await execa(process.execPath, [BIN, 'agent-hooks', 'claude', 'worktree-create'], {
      input: 'nope',
      reject: false,
    });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^berth: error: the hook input on stdin is not JSON \(hint: .+\)$/);
  });

  it('a subagent`s worktree, named as Claude Code names it, gets a light environment: the agent container only', async () => {
    // The input of a subagent's WorktreeCreate is a session's (read from Claude Code 2.1.332): only its
    // name, `agent-a` and 16 hex digits, tells it apart. Claude Code cannot run a subagent without a model.
    const created = await hook('worktree-create', {
      session_id: '5d1c9d5e-0d0e-4a51-9b52-5bb2b0d3f6a1',
      transcript_path: '/nonexistent/transcript.jsonl',
      cwd: repo.root,
      hook_event_name: 'WorktreeCreate',
      name: 'agent-a0123456789abcdef',
    });
    expect(created.exitCode, created.stderr).toBe(0);
    const [agent] = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(agent).toMatchObject({
      name: 'agent-a0123456789abcdef',
      services: { agent: 'running' },
      ports: {},
      urls: {},
      claude: { kind: 'subagent', worktreeName: 'agent-a0123456789abcdef', running: false },
    });
    const env = readFileSync(join(created.stdout.trim(), '.env.local'), 'utf8');
    expect(env).toContain('BERTH_NAME=agent-a0123456789abcdef');
    expect(env).not.toMatch(/DATABASE_URL|REDIS_URL|PGHOST/);
    const db = await berth(['db', 'reset', agent?.name ?? '', '--repo', repo.root]);
    expect(db.exitCode).toBe(2);
    expect(db.stderr).toContain('has no Postgres');
    const removed = await hook('worktree-remove', {
      hook_event_name: 'WorktreeRemove',
      cwd: created.stdout.trim(),
      worktree_path: created.stdout.trim(),
    });
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(listedAgents(await berth(['ls', '--repo', repo.root, '--json']))).toEqual([]);
  });

  // Claude Code 2.1.332 sends `name` only; its hooks reference documents these two.
  it('WorktreeCreate as documented (worktree_name, source_ref) starts the agent`s branch at that ref', async () => {
    await repo.git('checkout', '-qb', 'feature');
    await repo.commitFile('feature.txt', 'on the feature branch\n', 'A feature commit');
    const tip = await repo.git('rev-parse', 'HEAD');
    await repo.git('checkout', '-q', 'main');
    const created = await hook('worktree-create', {
      hook_event_name: 'WorktreeCreate',
      cwd: repo.root,
      worktree_name: 'from-feature',
      source_ref: 'feature',
      base_path: join(repo.root, '.claude', 'worktrees'),
    });
    expect(created.exitCode, created.stderr).toBe(0);
    const path = created.stdout.trim();
    expect((await execa('git', ['-C', path, 'rev-parse', 'HEAD~0'])).stdout).toBe(tip);
    expect((await execa('git', ['-C', path, 'branch', '--show-current'])).stdout).toBe('berth/from-feature');
    const removed = await hook('worktree-remove', {
      hook_event_name: 'WorktreeRemove',
      cwd: repo.root,
      worktree_path: path,
    });
    expect(removed.exitCode, removed.stderr).toBe(0);
  });
});
