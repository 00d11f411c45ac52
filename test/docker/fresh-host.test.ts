import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDebianLike } from '../../src/adapters/apt.js';
import { berth, expectCleanStderr, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

// A fresh host cannot be had here (no Docker-in-Docker: privileged containers fail), so the fresh
// parts are made fresh one by one: an empty berth home, a repository berth has never seen, and the
// install path taken for an engine and a Compose that are in fact present.
let home: string;
const env = () => ({ BERTH_HOME: home });

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'berth-home-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('host init on a fresh host', () => {
  it.runIf(process.getuid?.() === 0 && isDebianLike())(
    'installs the engine and Compose from an empty BERTH_HOME, prefers Compose v2, and says which it uses',
    async () => {
      const result = await berth(['host', 'init', '--install', '--json'], {
        env: { ...env(), BERTH_TEST_ASSUME_MISSING: 'engine,compose' },
      });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(expectCleanStderr(result.stderr)).toEqual([]);
      const report = resultOf(result, 'host init');
      expect(report.engine.outcome).toBe('installed');
      expect(report.compose).toMatchObject({ outcome: 'installed', variant: 'v2' });
      expect(result.stderr).toMatch(/installing docker\.io, docker-compose with apt-get/);
      expect(result.stderr).toMatch(/installing Compose v2/);
      // It really installed it, into a berth home that did not exist: not a plugin an earlier run left.
      expect(result.stderr).not.toMatch(/could not be installed/);
      expect(readFileSync(join(home, 'logs', 'install.log'), 'utf8')).toMatch(/docker-compose/);
      expect((await execa('docker', ['compose', 'version'])).stdout).toMatch(/v?2\.\d+/);
      expect((await execa('docker-compose', ['version', '--short'])).stdout).toMatch(/^1\./);

      const text = await berth(['host', 'init'], { env: env() });
      expect(text.stdout).toMatch(/^compose +found +v2 /m);
    },
  );
});

describe('every command from an empty BERTH_HOME, on a repository berth has never seen', () => {
  let repo: TestRepo;
  beforeAll(async () => {
    rmSync(home, { recursive: true, force: true });
    repo = await makeRepo();
  });
  afterAll(() => repo?.cleanup());

  // --repo first: whatever follows `--` is the agent's command.
  const run = ([command, ...rest]: string[]) =>
    berth([command as string, '--repo', repo.root, ...rest], { env: env() });

  it('answers every read-only command with a result or one clear line, before berth has made anything', async () => {
    const cases: Array<{ args: string[]; exit: number; out?: RegExp; err?: RegExp }> = [
      { args: ['ls'], exit: 0, out: /no agents/ },
      { args: ['gc', '--dry-run'], exit: 0, out: /nothing to collect/ },
      { args: ['show', 'nobody'], exit: 2, err: /no agent and no task named "nobody"/ },
      { args: ['logs', 'nobody'], exit: 2, err: /no logs for "nobody"/ },
      { args: ['heartbeat', 'nobody'], exit: 2, err: /no agent named "nobody"/ },
      { args: ['env', 'nobody'], exit: 2, err: /no agent named "nobody"/ },
      { args: ['exec', 'nobody', '--', 'true'], exit: 2, err: /no agent named "nobody"/ },
      { args: ['shell', 'nobody'], exit: 2, err: /no agent named "nobody"/ },
      { args: ['sync', 'nobody'], exit: 2, err: /no agent named "nobody"/ },
      { args: ['complete', 'nobody'], exit: 2, err: /no agent named "nobody"/ },
      { args: ['teardown', 'nobody'], exit: 0, out: /nothing to tear down/ },
    ];
    for (const { args, exit, out, err } of cases) {
      const result = await run(args);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(exit);
      expect(expectCleanStderr(result.stderr), args.join(' ')).toEqual([]);
      if (out) expect(result.stdout, args.join(' ')).toMatch(out);
      if (err) expect(result.stderr, args.join(' ')).toMatch(err);
    }
    expect(existsSync(join(repo.root, '.git', 'berth', 'state.json'))).toBe(false);
    const schema = await berth(['config', 'schema'], { env: env() });
    expect(schema.exitCode).toBe(0);
  });

  it('provisions, runs tasks, lists and removes agents from there', async () => {
    const tasks = join(repo.root, '..', 'tasks.yaml');
    writeFileSync(tasks, 'tasks:\n  - name: t1\n    command: "true"\n    onExit: teardown\n');
    const steps: Array<{ args: string[]; out?: RegExp }> = [
      { args: ['provision', 'first'] },
      { args: ['up', 'second'], out: /1 of 1 ready/ },
      { args: ['run', 'third', '--', 'true'] },
      { args: ['up', '--tasks', tasks], out: /1 of 1 succeeded/ },
      { args: ['exec', 'first', '--', 'true'] },
      { args: ['env', 'first'], out: /^DATABASE_URL=/m },
      { args: ['heartbeat', 'first'] },
      { args: ['sync', 'first'] },
      { args: ['complete', 'third', '--on-exit', 'teardown'] },
      { args: ['show', 'third'] },
      { args: ['ls'], out: /^first .*running/m },
      { args: ['gc'] },
      { args: ['teardown', 'first'] },
      { args: ['teardown', 'second'] },
    ];
    for (const { args, out } of steps) {
      const result = await run(args);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(expectCleanStderr(result.stderr), args.join(' ')).toEqual([]);
      if (out) expect(result.stdout, args.join(' ')).toMatch(out);
    }
  });
});

describe('installing berth for real', () => {
  it('a packed berth installs globally into a prefix, and its `berth` command runs', async () => {
    const prefix = mkdtempSync(join(tmpdir(), 'berth-prefix-'));
    try {
      const packed = await execa('npm', ['pack', '--json', '--pack-destination', prefix]);
      const tarball = join(prefix, JSON.parse(packed.stdout)[0].filename);
      await execa('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball]);
      const bin = join(prefix, 'bin', 'berth');
      expect((await execa(bin, ['--version'])).stdout).toBe(
        JSON.parse(readFileSync('package.json', 'utf8')).version,
      );
      const init = await execa(bin, ['host', 'init', '--json'], { env: env(), reject: false });
      expect(init.exitCode, String(init.stderr)).toBe(0);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});
