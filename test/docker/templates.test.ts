import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbReset, dbRestore, dbSnapshot, dbSnapshots } from '../../src/core/agent/db.js';
import { provision } from '../../src/core/agent/provision.js';
import { teardown } from '../../src/core/agent/teardown.js';
import { gc } from '../../src/core/gc.js';
import { snapshotImage } from '../../src/plan/template.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth, expectCleanStderr, resultOf } from '../helpers/cli.js';
import { docker, removeTestResources } from '../helpers/docker.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

const HOOK = resolve('test/fixtures/db-hook.mjs');
const config = (extra = '', storage = 'ephemeral') => `
postgres:
  storage: ${storage}
  template: { key: files, files: [seed.sql]${extra} }
hooks:
  migrate: [{ run: node ${HOOK} migrate, on: host }]
  seed: [{ run: node ${HOOK} seed, on: host }]
`;
const files = {
  'berth.yaml': config(),
  'seed.sql': "INSERT INTO items (name) VALUES ('seeded');",
  'migrations/001.sql': 'CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);',
};

let repo: TestRepo;
let seedCount: string;
const seeds = () => readFileSync(seedCount, 'utf8').split('\n').filter(Boolean);
const record = (name: string) => readState(join(repo.root, '.git', 'berth')).agents[name];
const snapshotOf = (name: string, label: string) => {
  const agent = record(name);
  return snapshotImage(agent?.repoId ?? '', name, agent?.instance ?? '', label);
};
const templates = async () =>
  (
    await docker().listImages({ filters: { label: [`dev.berth.template=${record('a1')?.repoId ?? ''}`] } })
  ).flatMap((image) => image.RepoTags ?? []);

async function sql(name: string, text: string): Promise<string[]> {
  const agent = record(name);
  if (!agent) throw new Error(`no agent ${name}`);
  const client = new pg.Client({
    host: '127.0.0.1',
    port: agent.ports.postgres,
    user: agent.postgres.user,
    password: agent.passwords.postgres,
    database: agent.postgres.database,
  });
  await client.connect();
  try {
    const result = await client.query(text);
    return (result.rows ?? []).map((row) => Object.values(row).join(','));
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  repo = await makeRepo({ files: { ...files } });
  await repo.git('add', '-A');
  seedCount = join(repo.root, '..', 'seeds.txt');
  writeFileSync(seedCount, '');
  process.env.SEED_COUNT_FILE = seedCount;
});
afterAll(async () => {
  delete process.env.SEED_COUNT_FILE;
  await repo.cleanup();
  await removeTestResources();
});

describe('database templates', () => {
  it('are built once for 5 provisions at once, and each agent`s data stays its own', async () => {
    const names = ['a1', 'a2', 'a3', 'a4', 'a5'];
    await Promise.all(names.map((name) => provision({ name, repo: repo.root })));
    expect(seeds()).toHaveLength(1);
    const built = names.filter((name) => record(name)?.postgres.template?.built);
    expect(built).toHaveLength(1);
    for (const name of names) expect(await sql(name, 'SELECT name FROM items')).toEqual(['seeded']);
    await sql('a2', "INSERT INTO items (name) VALUES ('mine')");
    expect(await sql('a2', 'SELECT name FROM items ORDER BY id')).toEqual(['seeded', 'mine']);
    expect(await sql('a3', 'SELECT name FROM items')).toEqual(['seeded']);
    expect(await templates()).toHaveLength(1);
  });

  it('give an agent on durable storage a copy of the template in its volume', async () => {
    const durable = join(repo.root, '..', 'durable.yaml');
    writeFileSync(durable, config('', 'durable'));
    await provision({ name: 'd1', repo: repo.root, configPath: durable });
    expect(record('d1')?.postgres).toMatchObject({ storage: 'durable', template: { built: false } });
    expect(await sql('d1', 'SELECT name FROM items')).toEqual(['seeded']);
    expect(seeds()).toHaveLength(1);
    await teardown({ name: 'd1', repo: repo.root, force: true });
  });

  it('run a migration added on one agent`s branch there only', async () => {
    await repo.git('checkout', '-q', '-b', 'feature');
    await repo.commitFile('migrations/002.sql', 'CREATE TABLE extras (id int);', 'a new migration');
    await repo.git('checkout', '-q', 'main');
    await provision({ name: 'feat', repo: repo.root, branch: 'feature' });
    expect(record('feat')?.postgres.template?.built).toBe(false);
    expect(seeds()).toHaveLength(1);
    expect(await sql('feat', "SELECT to_regclass('extras')::text")).toEqual(['extras']);
    expect(await sql('a1', "SELECT coalesce(to_regclass('extras')::text, 'none')")).toEqual(['none']);
  });

  it('reset, snapshot and restore round-trip a row, with the agent running', async () => {
    await sql('a1', "INSERT INTO items (name) VALUES ('kept')");
    const snapshot = await dbSnapshot({ name: 'a1', repo: repo.root, label: 'before' });
    expect(snapshot).toMatchObject({ action: 'snapshot', label: 'before', connectionsDropped: true });
    await sql('a1', "DELETE FROM items WHERE name = 'kept'");
    await dbRestore({ name: 'a1', repo: repo.root, label: 'before' });
    expect(await sql('a1', 'SELECT name FROM items ORDER BY id')).toEqual(['seeded', 'kept']);
    const reset = await dbReset({ name: 'a1', repo: repo.root });
    expect(reset.reseeded).toBe(false);
    expect(await sql('a1', 'SELECT name FROM items')).toEqual(['seeded']);
    expect((await dbSnapshots({ name: 'a1', repo: repo.root })).map((s) => s.label)).toEqual(['before']);
    await expect(dbRestore({ name: 'a1', repo: repo.root, label: 'nope' })).rejects.toThrow(
      /no snapshot "nope"/,
    );
    expect(seeds()).toHaveLength(1);
  });

  it('a snapshot under a label the agent used is refused in one line, changing nothing; --force replaces it', async () => {
    const tagged = async () => (await docker().getImage(snapshotOf('a1', 'before')).inspect()).Id;
    const postgresId = async () =>
      (
        await docker().listContainers({
          filters: {
            label: [
              `dev.berth.repo=${record('a1')?.repoId}`,
              'dev.berth.agent=a1',
              'com.docker.compose.service=postgres',
            ],
          },
        })
      ).map((c) => c.Id);
    const [image, running] = [await tagged(), await postgresId()];
    const refused = await berth(['db', 'snapshot', 'a1', '--as', 'before', '--repo', repo.root]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^berth: error: agent a1 has a snapshot "before" already \(hint: .*--force\)$/),
    ]);
    expect(expectCleanStderr(refused.stderr)).toEqual([]);
    // Nothing changed: the same image under the label, the same Postgres container, never restarted.
    expect(await tagged()).toBe(image);
    expect(await postgresId()).toEqual(running);

    await sql('a1', "INSERT INTO items (name) VALUES ('replaced')");
    const forced = resultOf(
      await berth(['db', 'snapshot', 'a1', '--as', 'before', '--force', '--repo', repo.root, '--json']),
      'db snapshot',
    );
    expect(forced).toMatchObject({ action: 'snapshot', label: 'before' });
    expect(await tagged()).not.toBe(image);
    // The snapshot it replaced is gone, not left untagged.
    await expect(docker().getImage(image).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await dbRestore({ name: 'a1', repo: repo.root, label: 'before' });
    expect(await sql('a1', 'SELECT name FROM items ORDER BY id')).toEqual(['seeded', 'replaced']);
    expect((await dbSnapshots({ name: 'a1', repo: repo.root })).map((s) => s.label)).toEqual(['before']);
    await dbReset({ name: 'a1', repo: repo.root });
  });

  it('the db commands answer in the contract`s form, and refuse a bad label in one line', async () => {
    const snapshot = resultOf(
      await berth(['db', 'snapshot', 'a2', '--as', 'cli', '--repo', repo.root, '--json']),
      'db snapshot',
    );
    expect(snapshot).toMatchObject({ agent: 'a2', label: 'cli', connectionsDropped: true });
    const listed = resultOf(
      await berth(['db', 'snapshots', 'a2', '--repo', repo.root, '--json']),
      'db snapshots',
    );
    expect(listed.snapshots.map((s) => s.label)).toEqual(['cli']);
    expect(
      resultOf(await berth(['db', 'reset', 'a2', '--repo', repo.root, '--json']), 'db reset'),
    ).toMatchObject({
      action: 'reset',
      reseeded: false,
    });
    const bad = await berth(['db', 'snapshot', 'a2', '--as', 'Bad Label', '--repo', repo.root]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^berth: error: "Bad Label" is not a valid snapshot label \(hint: .+\)$/);
    expect(expectCleanStderr(bad.stderr)).toEqual([]);
    const none = await berth(['db', 'restore', 'a2', 'nope', '--repo', repo.root]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/has no snapshot "nope" \(hint: its snapshots: cli\)/);
    // Its snapshots go with the agent.
    await teardown({ name: 'a2', repo: repo.root, force: true });
    expect(await docker().listImages({ filters: { reference: [snapshot.image] } })).toEqual([]);
  });

  it('are removed by gc when unused and over budget, and kept while an agent uses one', async () => {
    const budget = join(repo.root, '..', 'budget.yaml');
    writeFileSync(budget, config(', budget: 0GB'));
    const first = await templates();
    await repo.commitFile('seed.sql', "INSERT INTO items (name) VALUES ('seeded 2');", 'seed 2');
    await provision({ name: 'b2', repo: repo.root });
    await repo.commitFile('seed.sql', "INSERT INTO items (name) VALUES ('seeded 3');", 'seed 3');
    await provision({ name: 'b3', repo: repo.root });
    expect(await templates()).toHaveLength(3);
    const second = record('b2')?.postgres.template?.image;
    await teardown({ name: 'b2', repo: repo.root, force: true });
    const { actions } = await gc({ repo: repo.root, configPath: budget });
    expect(actions.filter((a) => a.kind === 'image').map((a) => a.target)).toEqual([second]);
    const left = await templates();
    expect(left).toEqual(expect.arrayContaining([...first, record('b3')?.postgres.template?.image]));
    expect(left).toHaveLength(2);
  });

  it('a killed template build leaves nothing that blocks the next', async () => {
    await repo.commitFile('seed.sql', "INSERT INTO items (name) VALUES ('seeded 4');", 'seed 4');
    const killed = await execa(process.execPath, [BIN, 'provision', 'k1', '--repo', repo.root], {
      reject: false,
      env: { BERTH_TEST_CRASH_AFTER: 'seed' },
    });
    expect(killed.signal).toBe('SIGKILL');
    const before = seeds().length;
    await provision({ name: 'k2', repo: repo.root });
    expect(record('k2')?.postgres.template?.built).toBe(true);
    expect(seeds()).toHaveLength(before + 1);
    await gc({ repo: repo.root });
    expect(record('k1')).toBeUndefined();
  });
});
