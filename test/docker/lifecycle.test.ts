import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shInAgent } from '../helpers/agent.js';
import { berth, listedAgents, resultOf } from '../helpers/cli.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

function writeConfig(repo: TestRepo, name: string, text: string): string {
  const path = join(repo.root, '..', `${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

async function tables(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
  );
  await client.end();
  return rows.map((row) => row.tablename);
}

async function hostEnv(repo: TestRepo, name: string): Promise<Record<string, string>> {
  const { stdout } = await berth(['env', name, '--repo', repo.root]);
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => line.includes('=') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('the example app end to end', () => {
  let repo: TestRepo;
  beforeAll(async () => {
    repo = await makeRepo({ example: true });
  });
  afterAll(() => repo?.cleanup());

  it("migrates into its own agent's database only, and its own tests pass inside the agent", async () => {
    const withMigrations = await berth(['provision', 'migrated', '--repo', repo.root]);
    expect(withMigrations.exitCode, withMigrations.stderr).toBe(0);
    const plain = writeConfig(repo, 'no-migrate', 'postgres: { database: notes, user: notes }\n');
    expect((await berth(['provision', 'plain', '--repo', repo.root, '--config', plain])).exitCode).toBe(0);

    expect(await tables((await hostEnv(repo, 'migrated')).DATABASE_URL ?? '')).toEqual([
      'notes',
      'schema_migrations',
    ]);
    expect(await tables((await hostEnv(repo, 'plain')).DATABASE_URL ?? '')).toEqual([]);

    // The app loads .env.local with dotenv, overriding its environment: the worktree's file must hold
    // addresses that answer in the container, where the app runs (migrate above went through it too).
    const loaded = await berth([
      'exec',
      'migrated',
      '--repo',
      repo.root,
      '--',
      'node',
      '--input-type=module',
      '-e',
      "import './src/env.js'; console.log(process.env.DATABASE_URL)",
    ]);
    expect(loaded.stdout.trim()).toMatch(/^postgres:\/\/notes:[^@]+@postgres:5432\/notes$/);
    const tests = await berth(['exec', 'migrated', '--repo', repo.root, '--', 'npm', 'test']);
    expect(tests.exitCode, tests.stdout + tests.stderr).toBe(0);
    expect(tests.stdout).toMatch(/pass 4\b/);

    const logs = await berth(['logs', 'migrated', '--repo', repo.root, '--hook', 'migrate']);
    expect(logs.stdout).toMatch(
      /==> migrate <==[\s\S]*\$ npm run -s migrate[\s\S]*applied: 001_create_notes/,
    );
  });
});

describe('tasks', () => {
  let repo: TestRepo;
  beforeAll(async () => {
    repo = await makeRepo();
  });
  afterAll(() => repo?.cleanup());

  it('berth run --on-exit teardown: the environment is gone, the branch with the commit remains', async () => {
    const result = await berth([
      'run',
      'task',
      '--repo',
      repo.root,
      '--on-exit',
      'teardown',
      '--',
      'sh',
      '-c',
      'echo done > result.txt && git add result.txt && git commit -qm "task result"',
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await leftovers(repo.root, 'task')).toEqual({ ...NOTHING, branches: 1 });
    expect(await repo.git('log', '-1', '--format=%s', 'berth/task')).toBe('task result');
    const shown = resultOf(await berth(['show', 'task', '--repo', repo.root, '--json']), 'show');
    expect(shown.agent).toBeNull();
    expect(shown.task).toMatchObject({ exitCode: 0, commits: 1, result: 'torn-down', onExit: 'teardown' });
    expect(shown.task?.diffStat).toMatch(/1 file changed, 1 insertion/);
  });

  it('passes the exit code through, records the outcome, and keeps the environment by default', async () => {
    const result = await berth(['run', 'failing', '--repo', repo.root, '--', 'sh', '-c', 'exit 3']);
    expect(result.exitCode).toBe(3);
    const [agent] = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(agent).toMatchObject({
      name: 'failing',
      state: 'running',
      task: { exitCode: 3, result: 'kept' },
    });
    // A branch without commits of its own has nothing merged: teardown-if-merged keeps it, and says why.
    const ifMerged = await berth([
      'complete',
      'failing',
      '--repo',
      repo.root,
      '--on-exit',
      'teardown-if-merged',
      '--json',
    ]);
    expect(resultOf(ifMerged, 'complete').task).toMatchObject({
      exitCode: 3,
      result: 'kept-unmerged',
      message: expect.stringContaining('has no commits of its own'),
    });
    const completed = await berth([
      'complete',
      'failing',
      '--repo',
      repo.root,
      '--on-exit',
      'teardown',
      '--json',
    ]);
    expect(resultOf(completed, 'complete').task).toMatchObject({ exitCode: 3, result: 'torn-down' });
    expect(await leftovers(repo.root, 'failing')).toEqual(NOTHING);
  });

  it('a failing migrate hook leaves nothing behind', async () => {
    const config = writeConfig(repo, 'bad-migrate', 'hooks:\n  migrate:\n    - echo migrating; exit 4\n');
    const result = await berth(['provision', 'badmig', '--repo', repo.root, '--config', config]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /failed at step "migrate": migrate command `echo migrating; exit 4` exited with 4/,
    );
    expect(await leftovers(repo.root, 'badmig')).toEqual(NOTHING);
  });

  it('a failing teardown hook keeps the environment, unless --force; post-teardown runs on the host', async () => {
    const marker = join(repo.root, '..', 'post-teardown-ran');
    const config = writeConfig(
      repo,
      'bad-teardown',
      `hooks:\n  teardown:\n    - echo saving; exit 5\n  post-teardown:\n    - touch ${marker}\n`,
    );
    expect((await berth(['provision', 'keeper', '--repo', repo.root, '--config', config])).exitCode).toBe(0);
    const refused = await berth(['teardown', 'keeper', '--repo', repo.root]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(
      /teardown command `echo saving; exit 5` exited with 5; the environment of keeper was kept/,
    );
    expect((await leftovers(repo.root, 'keeper')).containers).toBe(3);
    expect(existsSync(marker)).toBe(false);

    const forced = await berth(['teardown', 'keeper', '--repo', repo.root, '--force']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(await leftovers(repo.root, 'keeper')).toEqual(NOTHING);
    expect(existsSync(marker)).toBe(true);
    const logs = await berth(['logs', 'keeper', '--repo', repo.root]);
    expect(logs.stdout).toMatch(/==> teardown <==[\s\S]*saving[\s\S]*==> post-teardown <==/);
  });

  it('berth up --tasks runs five tasks at once; one fails, four succeed, and the summary says which', async () => {
    const file = join(repo.root, '..', 'tasks.yaml');
    const tasks = ['t1', 't2', 't3', 't4'].map(
      (name) =>
        `  - name: ${name}\n    command: echo ${name} > ${name}.txt && git add ${name}.txt && git commit -qm ${name}\n    onExit: teardown\n`,
    );
    writeFileSync(file, `tasks:\n${tasks.join('')}  - name: t5\n    command: [sh, -c, "exit 9"]\n`);
    const result = await berth(['up', '--tasks', file, '--repo', repo.root, '--parallel', '5']);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain('4 of 5 succeeded; failed: t5');
    expect(result.stdout).toMatch(/^t5\s+FAILED\s+9\s+kept/m);
    for (const name of ['t1', 't2', 't3', 't4']) {
      expect(result.stdout).toMatch(new RegExp(`^${name}\\s+ok\\s+0\\s+torn-down\\s+1`, 'm'));
      expect(await repo.git('log', '-1', '--format=%s', `berth/${name}`)).toBe(name);
    }
    const json = await berth(['show', 't5', '--repo', repo.root, '--json']);
    expect(resultOf(json, 'show').task?.exitCode).toBe(9);
  });
});

describe('berth sync', () => {
  let repo: TestRepo;
  beforeAll(async () => {
    repo = await makeRepo();
  });
  afterAll(() => repo?.cleanup());

  it('rebases the branch on its base, and on a conflict aborts and names the files', async () => {
    const agent = resultOf(
      await berth(['provision', 'syncer', '--repo', repo.root, '--json']),
      'provision',
    ).agent;
    writeFileSync(join(agent.worktree, 'agent.txt'), 'agent\n');
    await shInAgent(repo.root, 'syncer', 'git add agent.txt && git commit -qm agent-work');
    await repo.commitFile('main.txt', 'main\n', 'main-work');

    const synced = await berth(['sync', 'syncer', '--repo', repo.root]);
    expect(synced.exitCode, synced.stderr).toBe(0);
    expect(await repo.git('log', '--format=%s', 'berth/syncer')).toMatch(/^agent-work\nmain-work\ninitial$/);

    writeFileSync(join(agent.worktree, 'main.txt'), 'agent version\n');
    await berth(['exec', 'syncer', '--repo', repo.root, '--', 'sh', '-c', 'git commit -qam agent-edit']);
    writeFileSync(join(repo.root, 'main.txt'), 'main version\n');
    await repo.git('commit', '-qam', 'main-edit');
    const before = await repo.git('rev-parse', 'berth/syncer');
    const conflict = await berth(['sync', 'syncer', '--repo', repo.root]);
    expect(conflict.exitCode).toBe(1);
    expect(conflict.stderr).toMatch(/conflicts in main\.txt; the rebase was aborted, nothing changed/);
    expect(await repo.git('rev-parse', 'berth/syncer')).toBe(before);
    expect(await repo.git('-C', agent.worktree, 'status', '--porcelain')).toBe('');

    writeFileSync(join(agent.worktree, 'dirty.txt'), 'x');
    const dirty = await berth(['sync', 'syncer', '--repo', repo.root]);
    expect(dirty.exitCode).toBe(1);
    expect(dirty.stderr).toMatch(/uncommitted change/);
  });
});
