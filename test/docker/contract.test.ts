import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shInAgent } from '../helpers/agent.js';
import { berth, errorOf, expectCleanStderr, ownGcActions, resultOf } from '../helpers/cli.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

const run = (args: string[]) => berth([args[0] as string, '--repo', repo.root, ...args.slice(1)]);

describe('every command`s --json is one object of the contract', () => {
  it('provision, ls, show, env, exec, shell, heartbeat, sync, logs, run, complete, teardown, gc, config schema', async () => {
    const { agent } = resultOf(await run(['provision', 'c1', '--json']), 'provision');
    expect(agent).toMatchObject({ name: 'c1', state: 'running', health: 'ok', inUse: [] });
    expect(resultOf(await run(['ls', '--json']), 'ls').agents.map((e) => e.name)).toEqual(['c1']);
    expect(resultOf(await run(['show', 'c1', '--json']), 'show')).toMatchObject({ name: 'c1', task: null });

    const env = resultOf(await run(['env', 'c1', '--json']), 'env');
    expect(env.env.PGPASSWORD).toBe('***');
    expect(env.env.DATABASE_URL).toMatch(/^postgres:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/app$/);
    const secret = resultOf(await run(['env', 'c1', '--json', '--container', '--show-secrets']), 'env');
    expect(secret.env.DATABASE_URL).toMatch(/^postgres:\/\/app:[^*]+@postgres:5432\/app$/);

    const exec = await run(['exec', 'c1', '--json', '--', 'sh', '-c', 'echo out; echo err >&2; exit 4']);
    expect(exec.exitCode).toBe(4);
    const captured = resultOf(exec, 'exec');
    expect(captured).toMatchObject({ name: 'c1', exitCode: 4, truncated: false });
    expect(captured.output).toContain('out');
    expect(captured.output).toContain('err');
    expect(readFileSync(captured.logFile ?? '', 'utf8')).toBe(captured.output);

    expect(resultOf(await run(['shell', 'c1', '--json']), 'shell')).toEqual({ name: 'c1', exitCode: 0 });
    expect(resultOf(await run(['heartbeat', 'c1', '--json']), 'heartbeat').name).toBe('c1');
    const synced = resultOf(await run(['sync', 'c1', '--json']), 'sync');
    expect(synced).toMatchObject({
      onto: 'main',
      fetched: false,
      commits: 0,
      setup: { ran: false, commands: 0 },
    });

    const ran = await run(['run', 'c1', '--json', '--', 'sh', '-c', 'echo from the task']);
    expect(ran.exitCode, ran.stderr).toBe(0);
    // stdout is the one object; the command's own output went to stderr.
    expect(ran.stderr).toContain('from the task');
    const entry = resultOf(ran, 'run');
    expect(entry.task).toMatchObject({ state: 'finished', exitCode: 0, commits: 0, result: 'kept' });
    expect(readFileSync(entry.task?.logFile ?? '', 'utf8')).toContain('from the task');
    const logs = resultOf(await run(['logs', 'c1', '--task', '--json']), 'logs');
    expect(logs.logs).toEqual([
      expect.objectContaining({ source: 'task', state: 'finished', truncated: false }),
    ]);

    const completed = resultOf(await run(['complete', 'c1', '--json']), 'complete');
    expect(completed.task).toMatchObject({ exitCode: 0, result: 'kept', completedAt: expect.any(String) });
    const down = resultOf(await run(['teardown', 'c1', '--json']), 'teardown');
    expect(down).toMatchObject({ removed: true, branchOutcome: 'deleted-empty' });
    const collected = resultOf(await run(['gc', '--json']), 'gc');
    expect(collected.dryRun).toBe(false);
    expect(ownGcActions(collected.actions, repo.root)).toEqual([]);
    const schema = await berth(['config', 'schema', '--json']);
    expect(resultOf(schema, 'config schema').schema).toMatchObject({ type: 'object' });
  });

  it('up and up --tasks list entries; failures are errors of their entries', async () => {
    const up = await run(['up', 'u1', 'u1x', '--json']);
    expect(resultOf(up, 'up')).toMatchObject({ ready: 2, failed: 0 });
    const again = await run(['up', 'u1', '--json']);
    expect(again.exitCode).toBe(1);
    const failed = resultOf(again, 'up');
    expect(failed.agents[0]).toMatchObject({
      name: 'u1',
      outcome: 'error',
      agent: null,
      error: { code: 'agent-exists' },
    });

    const file = join(repo.root, '..', 'tasks.yaml');
    writeFileSync(
      file,
      'tasks:\n  - name: t-ok\n    command: "true"\n    onExit: teardown\n  - name: t-bad\n    command: [sh, -c, "exit 6"]\n',
    );
    const tasks = await run(['up', '--tasks', file, '--json']);
    expect(tasks.exitCode).toBe(1);
    const result = resultOf(tasks, 'up --tasks');
    expect(result).toMatchObject({ succeeded: 1, failed: 1 });
    expect(result.tasks.map((t) => [t.name, t.outcome, t.task?.exitCode, t.agent?.name ?? null])).toEqual([
      ['t-ok', 'success', 0, null],
      ['t-bad', 'error', 6, 't-bad'],
    ]);
    for (const name of ['u1', 'u1x', 't-bad']) await run(['teardown', name, '--force']);
  });

  it('errors are envelopes too, with the same message and hint the line gives', async () => {
    const unknown = await run(['show', 'nobody', '--json']);
    expect(unknown.exitCode).toBe(2);
    expect(errorOf(unknown, 'show')).toMatchObject({ code: 'unknown-agent', hint: expect.any(String) });
    expect(unknown.stderr).toContain(errorOf(unknown, 'show').message);
    const usage = await run(['exec', 'x', '--json', 'ls', '-la']);
    expect(usage.exitCode).toBe(2);
    expect(errorOf(usage, 'exec')).toMatchObject({ code: 'usage', message: "unknown option '-la'" });
    expect(usage.stderr.trim()).toBe(
      "berth: error: unknown option '-la' (hint: put -- before the agent's command, so its options are its own: berth exec NAME -- <command> <options>)",
    );
  });
});

describe('outcomes that are true', () => {
  it('after sync, the agent`s work is its own commits against its base as it is now', async () => {
    await run(['provision', 'synced']);
    await shInAgent(repo.root, 'synced', 'echo mine > mine.txt && git add mine.txt && git commit -qm mine');
    await repo.commitFile('theirs.txt', 'main moved on\n', 'theirs');
    resultOf(await run(['sync', 'synced', '--json']), 'sync');
    const entry = resultOf(await run(['run', 'synced', '--json', '--', 'true']), 'run');
    expect(entry.task).toMatchObject({ commits: 1, diffStat: '1 file changed, 1 insertion(+)' });
    expect(resultOf(await run(['show', 'synced', '--json']), 'show').task?.commits).toBe(1);
  });

  it('complete keeps the failed run`s exit code and duration, and says the unmerged branch was kept', async () => {
    const failed = await run(['run', 'synced', '--', 'sh', '-c', 'sleep 1; exit 3']);
    expect(failed.exitCode).toBe(3);
    const completed = await run(['complete', 'synced', '--on-exit', 'teardown']);
    expect(completed.stdout).toMatch(
      /^synced: completed; its last run exited with 3 after 1\.\d s; 1 commit\(s\) on berth\/synced/m,
    );
    expect(completed.stdout).toContain('branch berth/synced has unmerged commits: kept');
    const shown = resultOf(await run(['show', 'synced', '--json']), 'show');
    expect(shown).toMatchObject({
      agent: null,
      task: { exitCode: 3, result: 'torn-down', branchOutcome: 'kept-unmerged' },
    });
    expect(shown.task?.durationMs).toBeGreaterThanOrEqual(1000);
  });

  it('teardown --force saves uncommitted and untracked work first, and the refusal`s hint would commit it', async () => {
    const { agent } = resultOf(await run(['provision', 'forced', '--json']), 'provision');
    writeFileSync(join(agent.worktree, 'untracked.txt'), 'not yet added\n');
    const refused = await run(['teardown', 'forced']);
    expect(refused.stderr).toMatch(
      /hint: commit them, untracked files too \(berth exec forced -- sh -c 'git add -A && git commit -m wip'\)/,
    );
    const down = resultOf(await run(['teardown', 'forced', '--force', '--json']), 'teardown');
    expect(readFileSync(down.savedPatch ?? '', 'utf8')).toContain('+not yet added');
    expect(await leftovers(repo.root, 'forced')).toEqual(NOTHING);
  });

  it('says nothing of hooks that are not configured', async () => {
    const made = await run(['provision', 'quiet']);
    expect(made.stderr).not.toMatch(/setup hooks|migrate hooks|seed hooks/);
    expect(expectCleanStderr(made.stderr)).toEqual([]);
    const noLog = await run(['logs', 'quiet', '--hook', 'seed']);
    expect(noLog.exitCode).toBe(2);
    expect(noLog.stderr).toMatch(/the seed hook has not run for "quiet" \(hint: none is configured/);
    await run(['teardown', 'quiet']);
  });
});

describe('tasks and their logs', () => {
  it('refuses a tasks file with a bad field or two tasks of one name, naming each, and starts nothing', async () => {
    const file = join(repo.root, '..', 'bad-tasks.yaml');
    writeFileSync(
      file,
      'tasks:\n  - name: fix-login\n    command: "true"\n    onExit: nuke\n  - name: twin\n    command: "true"\n  - name: twin\n    command: "true"\n',
    );
    const result = await run(['up', '--tasks', file]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/has 2 problem\(s\); no task was started/);
    expect(result.stderr).toMatch(
      /berth: {3}tasks\[0\] \(fix-login\)\.onExit: Invalid option: expected one of "keep"\|"teardown"\|"teardown-if-merged"/,
    );
    expect(result.stderr).toMatch(/berth: {3}twin: given to more than one task/);
    for (const name of ['fix-login', 'twin']) expect(await leftovers(repo.root, name)).toEqual(NOTHING);
  });

  it('keeps each run`s output apart; logs --task shows the last one with its start and outcome', async () => {
    await run(['run', 'runs', '--', 'sh', '-c', 'echo first run']);
    const second = await run(['run', 'runs', '--', 'sh', '-c', 'echo second run; exit 2']);
    expect(second.exitCode).toBe(2);
    const shown = await run(['logs', 'runs', '--task']);
    expect(shown.stdout).toMatch(/^==> task, started \S+: finished, exit code 2 <==\nsecond run$/);
    const runsDir = join(repo.root, '.git', 'berth', 'history', 'runs', 'runs');
    expect(existsSync(runsDir)).toBe(true);
    const both = readFileSync(
      resultOf(await run(['show', 'runs', '--json']), 'show').task?.logFile ?? '',
      'utf8',
    );
    expect(both).toBe('second run\n');
    await run(['teardown', 'runs', '--force']);
  });
});
