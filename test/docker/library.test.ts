import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as berth from '../../src/index.js';
import { readEnvFile } from '../helpers/agent.js';
import { ownGcActions } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

describe('berth as a library', () => {
  it('provisions, lists, runs a task, collects and tears down through the same operations the CLI runs', async () => {
    const agent = await berth.provision({ name: 'lib', repo: repo.root });
    expect(agent).toMatchObject({ name: 'lib', state: 'running', branch: 'berth/lib' });
    const [listed] = await berth.listAgents({ repo: repo.root });
    expect(listed?.agent).toMatchObject({ name: 'lib', state: 'running', health: 'ok' });

    const entry = await berth.runTask({
      name: 'lib',
      repo: repo.root,
      command: [
        'sh',
        '-c',
        'echo from-the-library && echo done > done.txt && git add done.txt && git commit -qm done',
      ],
      quiet: true,
    });
    expect(entry.task).toMatchObject({ exitCode: 0, commits: 1, state: 'finished' });
    expect(readFileSync(entry.task?.logFile ?? '', 'utf8')).toContain('from-the-library');

    expect(ownGcActions((await berth.gc({ repo: repo.root, dryRun: true })).actions, repo.root)).toEqual([]);
    const down = await berth.teardown({ name: 'lib', repo: repo.root });
    expect(down).toMatchObject({ removed: true, branchOutcome: 'kept-unmerged' });
    expect(await leftovers(repo.root, 'lib')).toEqual({ ...NOTHING, branches: 1 });
  });

  it('gives typed errors with a hint, not raw ones', async () => {
    await expect(berth.provision({ name: 'Bad Name', repo: repo.root })).rejects.toMatchObject({
      code: 'bad-name',
      exitCode: 2,
      hint: expect.stringMatching(/lowercase letters/),
    });
    await expect(berth.teardown({ name: 'nobody', repo: repo.root })).resolves.toMatchObject({
      removed: false,
    });
  });
});

describe('durable Postgres storage', () => {
  it('keeps an agent`s data in a named volume of its own, across a restart of its Postgres', async () => {
    const config = join(repo.root, '..', 'durable.yaml');
    writeFileSync(config, 'postgres: { storage: durable }\n');
    const agent = await berth.provision({ name: 'durable', repo: repo.root, configPath: config });
    const url = readEnvFile(agent.hostEnvFile).DATABASE_URL ?? '';
    const write = new pg.Client({ connectionString: url });
    await write.connect();
    await write.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')");
    await write.end();

    const [postgres] = await docker().listContainers({
      filters: { label: ['dev.berth.agent=durable', 'com.docker.compose.service=postgres'] },
    });
    const info = await docker()
      .getContainer(postgres?.Id ?? '')
      .inspect();
    const volume = info.Mounts.find((mount) => mount.Destination === '/var/lib/postgresql/data');
    expect(volume?.Type).toBe('volume');
    await docker()
      .getContainer(postgres?.Id ?? '')
      .restart();

    const rows = await eventually(async () => {
      const read = new pg.Client({ connectionString: url });
      read.on('error', () => {});
      try {
        await read.connect();
        return (await read.query('SELECT v FROM kept')).rows;
      } finally {
        await read.end().catch(() => {});
      }
    });
    expect(rows).toEqual([{ v: 'survives' }]);
    await berth.teardown({ name: 'durable', repo: repo.root });
    expect(await leftovers(repo.root, 'durable')).toEqual(NOTHING);
  });
});
