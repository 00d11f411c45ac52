import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shInAgent } from '../helpers/agent.js';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { imageFor, silentImage } from '../helpers/images.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { processGone } from '../helpers/processes.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

function config(name: string, text: string): string {
  const path = join(repo.root, '..', `${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

describe('a provision that cannot be done leaves nothing behind', () => {
  const cases: Array<{ what: string; name: string; args?: () => string[]; exit: number; error: RegExp }> = [
    {
      what: 'an upper-case name',
      name: 'Bad',
      exit: 2,
      error: /invalid agent name "Bad".*hint: use lowercase/,
    },
    { what: 'a name with a slash', name: 'a/b', exit: 2, error: /invalid agent name/ },
    {
      what: 'a config with wrong fields',
      name: 'cfg',
      args: () => [
        '--config',
        config('wrong', 'agent:\n  image: 42\nredis:\n  enabled: maybe\ncolour: blue\n'),
      ],
      exit: 2,
      error: /has 3 bad field\(s\)[\s\S]*agent\.image: [\s\S]*redis\.enabled: [\s\S]*colour: unknown field/,
    },
    {
      what: 'YAML that does not parse',
      name: 'yaml',
      args: () => ['--config', config('broken', 'agent: [unclosed\n')],
      exit: 2,
      error: /is not valid YAML at line/,
    },
    {
      what: 'an image that does not exist',
      name: 'img',
      args: () => ['--config', config('image', 'agent:\n  image: berth-test/does-not-exist:1\n')],
      exit: 3,
      error: /agent image berth-test\/does-not-exist:1 is not on this host and cannot be pulled/,
    },
    {
      what: 'a setup command that fails',
      name: 'setup',
      args: () => ['--config', config('setup', 'hooks:\n  setup:\n    - echo preparing; exit 3\n')],
      exit: 1,
      error:
        /failed at step "setup": setup command `echo preparing; exit 3` exited with 3 \(log: .*setup\.log\)/,
    },
    {
      what: 'an agent command that does not keep running (before, it said "ready")',
      name: 'cmd',
      args: () => ['--config', config('cmd', 'agent:\n  command: [/no/such/binary]\n')],
      exit: 1,
      error:
        /failed at step "health": the agent's container (keeps exiting \(restarting\)|exited with code \d+)[^\n]*\n(.|\n)*agent: .*no\/such\/binary/,
    },
    {
      what: 'a start ref that does not exist',
      name: 'ref',
      args: () => ['--from', 'no-such-branch'],
      exit: 2,
      error: /"no-such-branch" does not name a commit/,
    },
  ];

  for (const { what, name, args, exit, error } of cases) {
    it(`refuses ${what}`, async () => {
      const result = await berth(['provision', name, '--repo', repo.root, ...(args?.() ?? [])]);
      expect(result.exitCode, result.stderr).toBe(exit);
      expect(result.stderr).toMatch(error);
      expect(result.stdout).toBe('');
      expect(await leftovers(repo.root, name)).toEqual(NOTHING);
    });
  }

  it('names the service whose container the engine would not start, and leaves nothing', async () => {
    // An image without an entrypoint: the engine itself runs the command, and refuses to start it.
    const image = await imageFor('agent');
    const bad = config('svc', `services:\n  worker:\n    image: ${image}\n    command: [/no/such/program]\n`);
    const result = await berth(['provision', 'svc', '--repo', repo.root, '--config', bad]);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/failed at step "start": the worker container: .*no\/such\/program/);
    expect(await leftovers(repo.root, 'svc')).toEqual(NOTHING);
  });

  it('refuses a service that exits once started (no ports, no ready: before, it counted as started)', async () => {
    const image = await imageFor('agent');
    const quits = config(
      'quits',
      `services:\n  worker:\n    image: ${image}\n    command: [sh, -c, "echo giving up; exit 4"]\n`,
    );
    const result = await berth(['provision', 'quits', '--repo', repo.root, '--config', quits]);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(
      /failed at step "health": the worker container (exited with code 4|keeps exiting[^\n]*) after it started[^\n]*\n(.|\n)*worker: giving up/,
    );
    expect(result.stdout).toBe('');
    expect(await leftovers(repo.root, 'quits')).toEqual(NOTHING);
  });

  it('keeps a service that exits once (what it needs was starting) and runs once its restart policy brings it back', async () => {
    const image = await imageFor('agent');
    const once = config(
      'once',
      `services:\n  worker:\n    image: ${image}\n    command: [sh, -c, "if [ -e /tmp/once ]; then exec sleep infinity; fi; touch /tmp/once; echo not yet; exit 1"]\n`,
    );
    const result = await berth(['provision', 'once', '--repo', repo.root, '--config', once]);
    expect(result.exitCode, result.stderr).toBe(0);
    const gone = await berth(['teardown', 'once', '--repo', repo.root]);
    expect(gone.exitCode, gone.stderr).toBe(0);
    expect(await leftovers(repo.root, 'once')).toEqual(NOTHING);
  });

  it('rolls back when the terminal closes (SIGHUP) during a host hook, and stops the hook', async () => {
    const pidFile = join(repo.root, '..', 'hup-hook.pid');
    const hooked = config(
      'hup-hook',
      `postgres: { enabled: false }\nredis: { enabled: false }\nhooks:\n  setup:\n    - { run: "sleep 100 & echo $! > ${pidFile}; wait", on: host }\n`,
    );
    const provision = execa(
      process.execPath,
      [BIN, 'provision', 'hup', '--repo', repo.root, '--config', hooked],
      {
        reject: false,
        stdin: 'ignore',
      },
    );
    while (
      (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') &&
      provision.exitCode === null
    )
      await new Promise((resolve) => setTimeout(resolve, 50));
    const hook = Number(readFileSync(pidFile, 'utf8').trim());
    // Before, SIGHUP killed berth part-way: the hook, the container and the worktree stayed.
    provision.kill('SIGHUP');
    const stopped = await provision;
    expect(stopped.exitCode, stopped.stderr).toBe(129);
    expect(stopped.stderr).toMatch(/interrupted by a signal/);
    expect(await processGone(hook)).toBe(true);
    expect(await leftovers(repo.root, 'hup')).toEqual(NOTHING);
  }, 120_000);

  it('keeps the failed provision`s logs, and its provision.log names the step`s log where it is kept', async () => {
    const failing = config('kept', 'hooks:\n  setup:\n    - echo preparing; exit 5\n');
    const result = await berth(['provision', 'kept', '--repo', repo.root, '--config', failing]);
    expect(result.exitCode, result.stderr).toBe(1);
    const stepLog = /\(log: (\S+)\)/.exec(result.stderr)?.[1] ?? '';
    expect(stepLog).toMatch(/\/\.git\/berth\/failed\/kept-[^/]+\/setup\.log$/);
    const kept = readFileSync(join(stepLog, '..', 'provision.log'), 'utf8');
    expect(kept).toMatch(/failed at step "setup": setup command `echo preparing; exit 5` exited with 5/);
    // Before, this named the agent's own folder, which the rollback removed.
    const named = /^ {2}log: (\S+)$/m.exec(kept)?.[1] ?? '';
    expect(named).toBe(stepLog);
    expect(readFileSync(named, 'utf8')).toContain('preparing');
    expect(await leftovers(repo.root, 'kept')).toEqual(NOTHING);
  });

  it('refuses a Postgres that runs but never answers, and says what it probed and what answered', async () => {
    const silent = config('silent', `postgres: { image: ${await silentImage()} }\nhealthTimeout: 3\n`);
    const result = await berth(['provision', 'silent', '--repo', repo.root, '--config', silent]);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(
      /failed at step "health": postgres did not answer within 3 s \(postgres on 127\.0\.0\.1:\d+: connection closed without a reply/,
    );
    expect(result.stderr).toMatch(/berth: {3}postgres: container running; probed 127\.0\.0\.1:\d+/);
    // The log the error points at, kept after the rollback, says the cause too: not only step names.
    const log = /\(log: (\S+)\)/.exec(result.stderr)?.[1] ?? '';
    expect(log).toMatch(/\/\.git\/berth\/failed\/silent-[^/]+\/provision\.log$/);
    const kept = readFileSync(log, 'utf8');
    expect(kept).toMatch(/failed at step "health": postgres did not answer within 3 s/);
    expect(kept).toMatch(/postgres: container running; probed 127\.0\.0\.1:\d+/);
    expect(await leftovers(repo.root, 'silent')).toEqual(NOTHING);
  });

  it('fails at once, with its last lines, when the Postgres container exits', async () => {
    const exits = config('exits', `postgres: { image: ${await imageFor('redis')} }\nhealthTimeout: 120\n`);
    const result = await berth(['provision', 'exits', '--repo', repo.root, '--config', exits]);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(
      /failed at step "health": postgres (exited with code \d+|keeps exiting \(restarting\)) before answering/,
    );
    expect(result.stderr).toMatch(/berth: {3}postgres \| .*postgres/);
    // "before answering", not "did not answer within 120 s": the wait looked at the container, not only the port.
    expect(await leftovers(repo.root, 'exits')).toEqual(NOTHING);
  });

  it('rolls back when interrupted with Ctrl-C in the middle', async () => {
    const slowSetup = config('interrupt', 'hooks:\n  setup:\n    - sleep 60\n');
    const child = execa('node', [BIN, 'provision', 'ctrlc', '--repo', repo.root, '--config', slowSetup], {
      reject: false,
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ctrlc: running setup hooks')) child.kill('SIGINT');
    });
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(String(result.stderr)).toMatch(/failed at step "setup": interrupted/);
    expect(await leftovers(repo.root, 'ctrlc')).toEqual(NOTHING);
  });

  it('keeps the failed setup log where the error says', async () => {
    const result = await berth([
      'provision',
      'setup2',
      '--repo',
      repo.root,
      '--config',
      config('setup', 'hooks:\n  setup:\n    - echo preparing; exit 3\n'),
    ]);
    const log = /\(log: (\S+)\)/.exec(result.stderr)?.[1] ?? '';
    expect(existsSync(log)).toBe(true);
    expect(await leftovers(repo.root, 'setup2')).toEqual(NOTHING);
  });

  it('refuses a name already provisioned, and leaves the first one alone', async () => {
    const first = await berth(['provision', 'twice', '--repo', repo.root, '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    const second = await berth(['provision', 'twice', '--repo', repo.root]);
    expect(second.exitCode).toBe(2);
    expect(second.stderr).toMatch(/agent "twice" is already provisioned/);
    const ls = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(ls).toHaveLength(1);
    expect(ls[0]).toMatchObject({ name: 'twice', state: 'running', health: 'ok' });
  });
});

describe('teardown', () => {
  it('refuses while the worktree has uncommitted changes, and removes nothing', async () => {
    const agent = resultOf(
      await berth(['provision', 'dirty', '--repo', repo.root, '--json']),
      'provision',
    ).agent;
    writeFileSync(join(agent.worktree, 'unsaved.txt'), 'work in progress');
    const refused = await berth(['teardown', 'dirty', '--repo', repo.root]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/agent dirty has 1 uncommitted change\(s\).*--force/);
    expect(existsSync(join(agent.worktree, 'unsaved.txt'))).toBe(true);
    expect((await leftovers(repo.root, 'dirty')).containers).toBe(3);

    const forced = await berth(['teardown', 'dirty', '--repo', repo.root, '--force']);
    expect(forced.exitCode).toBe(0);
    expect(await leftovers(repo.root, 'dirty')).toEqual(NOTHING);
  });

  it('deletes a branch that is merged into its base, or has no commits, and keeps it with --keep-branch', async () => {
    expect((await berth(['provision', 'merged', '--repo', repo.root])).exitCode).toBe(0);
    await shInAgent(repo.root, 'merged', 'echo m > m.txt && git add m.txt && git commit -qm merged-work');
    await repo.git('merge', '-q', '--ff-only', 'berth/merged');
    const done = await berth(['teardown', 'merged', '--repo', repo.root, '--json']);
    expect(resultOf(done, 'teardown').branchOutcome).toBe('deleted');
    expect(await leftovers(repo.root, 'merged')).toEqual(NOTHING);

    expect((await berth(['provision', 'empty', '--repo', repo.root])).exitCode).toBe(0);
    const empty = await berth(['teardown', 'empty', '--repo', repo.root]);
    expect(empty.stdout).toContain('branch berth/empty had no commits of its own: deleted');
    expect(await leftovers(repo.root, 'empty')).toEqual(NOTHING);

    expect((await berth(['provision', 'kept', '--repo', repo.root])).exitCode).toBe(0);
    const kept = await berth(['teardown', 'kept', '--repo', repo.root, '--keep-branch']);
    expect(kept.stdout).toContain('branch berth/kept kept (--keep-branch)');
    expect(await repo.git('branch', '--list', 'berth/kept')).toContain('berth/kept');
  });

  it('continues work on an existing branch with --branch', async () => {
    const result = await berth([
      'provision',
      'again',
      '--repo',
      repo.root,
      '--branch',
      'berth/kept',
      '--json',
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(resultOf(result, 'provision').agent.branch).toBe('berth/kept');
    const down = await berth(['teardown', 'again', '--repo', repo.root, '--json']);
    expect(resultOf(down, 'teardown').branchOutcome).toBe('kept-not-created');
  });
});
