import { statSync } from 'node:fs';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { surveyCompose } from '../../src/adapters/compose.js';
import type { AgentView } from '../../src/contract.js';
import { provision } from '../../src/core/agent/provision.js';
import { nodeInAgent, readEnvFile } from '../helpers/agent.js';
import { berth, listedAgents, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { leftovers } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

/** The host's view of an agent's env: what a tool on the host connects with. */
const envFile = (agent: AgentView) => readEnvFile(agent.hostEnvFile);

const nodeIn = (repo: TestRepo, name: string, script: string) => nodeInAgent(repo.root, name, script);

const WRITE_AND_READ = `
import pg from 'pg';
import { createClient } from 'redis';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
await pool.query('CREATE TABLE IF NOT EXISTS marks (who text)');
await pool.query('INSERT INTO marks VALUES ($1)', [process.env.BERTH_NAME]);
const { rows } = await pool.query('SELECT who FROM marks');
const redis = createClient({ url: process.env.REDIS_URL });
await redis.connect();
await redis.set('mark', process.env.BERTH_NAME);
console.log(JSON.stringify({ rows: rows.map((r) => r.who), redis: await redis.get('mark') }));
await redis.quit();
await pool.end();
`;

const CONNECT = (host: string) => `
import net from 'node:net';
const socket = net.connect({ host: '${host}', port: 5432, timeout: 3000 });
socket.on('connect', () => { console.log('connected'); process.exit(0); });
socket.on('timeout', () => { console.log('timeout'); process.exit(1); });
socket.on('error', (e) => { console.log(e.code); process.exit(1); });
`;

describe('two agents in one repository', () => {
  let repo: TestRepo;
  let a: AgentView;
  let b: AgentView;

  beforeAll(async () => {
    repo = await makeRepo({ example: true });
    a = await provision({ name: 'a', repo: repo.root });
    b = await provision({ name: 'b', repo: repo.root });
  });
  afterAll(() => repo?.cleanup());

  it('reports the provisioned agent with its branch, files, ports and host URLs', () => {
    expect(a).toMatchObject({ name: 'a', branch: 'berth/a', state: 'running' });
    expect(a.worktree).toMatch(/^\/.*project\.worktrees\/a$/);
    expect(Object.keys(a.ports).sort()).toEqual(['postgres', 'redis', 'web']);
    expect(new Set([...Object.values(a.ports), ...Object.values(b.ports)]).size).toBe(6);
    expect(a.urls.database).toBe(`postgres://notes:***@127.0.0.1:${a.ports.postgres}/notes`);
  });

  it('gives each container its own Postgres and Redis by name, to write and read', async () => {
    for (const agent of [a, b]) {
      const result = await nodeIn(repo, agent.name, WRITE_AND_READ);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ rows: [agent.name], redis: agent.name });
    }
  });

  it('lets the host reach each at 127.0.0.1 with that agent password only, and keeps their data apart', async () => {
    const envA = envFile(a);
    const envB = envFile(b);
    const clientA = new pg.Client({ connectionString: envA.DATABASE_URL });
    await clientA.connect();
    const { rows } = await clientA.query('SELECT who FROM marks');
    expect(rows.map((r) => r.who)).toEqual(['a']);
    await clientA.end();

    const wrongPassword = envB.DATABASE_URL?.replace(envB.PGPASSWORD ?? '', envA.PGPASSWORD ?? '');
    await expect(new pg.Client({ connectionString: wrongPassword }).connect()).rejects.toThrow(/password/);

    const redisB = new Redis(envB.REDIS_URL ?? '');
    expect(await redisB.get('mark')).toBe('b');
    await redisB.quit();
  });

  it("keeps agent a's container away from agent b's Postgres, by name and by address", async () => {
    const client = docker();
    const [bPostgres] = await client.listContainers({
      filters: { label: ['dev.berth.agent=b', 'com.docker.compose.service=postgres'] },
    });
    const info = await client.getContainer(bPostgres?.Id ?? '').inspect();
    const address = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress ?? '';
    expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const own = await nodeIn(repo, 'a', CONNECT('postgres'));
    expect(own.stdout).toBe('connected');
    const byAddress = await nodeIn(repo, 'a', CONNECT(address));
    expect(['timeout', 'EHOSTUNREACH', 'ECONNREFUSED']).toContain(byAddress.stdout);
    const name = info.Name.replace(/^\//, '');
    const byName = await nodeIn(repo, 'a', CONNECT(name));
    expect(byName.stdout).toBe('ENOTFOUND');
    expect(byName.exitCode).toBe(1);
  });

  it('publishes ports on 127.0.0.1 only', async () => {
    const containers = await docker().listContainers({ filters: { label: ['dev.berth.agent=a'] } });
    const published = containers.flatMap((c) => c.Ports.filter((p) => p.PublicPort));
    expect(published.length).toBe(3);
    for (const port of published) expect(port.IP).toBe('127.0.0.1');
  });

  it('lands a commit made in the container on the branch, owned by the host user, with every worktree intact', async () => {
    const commit = await berth([
      'exec',
      'a',
      '--repo',
      repo.root,
      '--',
      'sh',
      '-c',
      'echo agent-work > work.txt && git add work.txt && git commit -qm "work from a" && git gc --auto && git worktree prune && git status --short',
    ]);
    expect(commit.exitCode, commit.stderr).toBe(0);
    expect(await repo.git('log', '-1', '--format=%s', 'berth/a')).toBe('work from a');
    expect(statSync(`${a.worktree}/work.txt`).uid).toBe(statSync(repo.root).uid);
    const worktrees = await repo.git('worktree', 'list');
    expect(worktrees).toContain(a.worktree);
    expect(worktrees).toContain(b.worktree);
  });

  it('hides berth state (other agents passwords) from the container', async () => {
    const result = await berth([
      'exec',
      'a',
      '--repo',
      repo.root,
      '--',
      'ls',
      '-A',
      `${repo.root}/.git/berth`,
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe('');
  });

  it('writes the container`s view in the worktree and the host`s beside the compose file, both mode 0600, neither in git', async () => {
    expect(statSync(a.envFile).mode & 0o777).toBe(0o600);
    expect(statSync(a.hostEnvFile).mode & 0o777).toBe(0o600);
    const status = await berth(['exec', 'b', '--repo', repo.root, '--', 'git', 'status', '--porcelain']);
    expect(status.stdout).not.toContain('.env.local');
    const inWorktree = readEnvFile(b.envFile);
    expect(inWorktree.DATABASE_URL).toBe(`postgres://notes:${inWorktree.PGPASSWORD}@postgres:5432/notes`);
    expect(envFile(b).DATABASE_URL).toBe(
      `postgres://notes:${envFile(b).PGPASSWORD}@127.0.0.1:${b.ports.postgres}/notes`,
    );
  });

  it('lists both agents as running and healthy', async () => {
    const rows = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(rows.map((r) => [r.name, r.state, r.health])).toEqual([
      ['a', 'running', 'ok'],
      ['b', 'running', 'ok'],
    ]);
  });

  it('writes a compose file that Compose accepts and that describes the running stack', async () => {
    const cli = (await surveyCompose()).found[0];
    if (!cli) throw new Error('no compose');
    const [program, ...prefix] = cli.command;
    const base = [...prefix, '-p', a.composeProject, '-f', a.composeFile];
    const check = await execa(program, [...base, 'config', '-q'], { reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
    const ps = await execa(program, [...base, 'ps', '-q'], { reject: false });
    expect(ps.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('passes the exit code of exec through', async () => {
    const result = await berth(['exec', 'a', '--repo', repo.root, '--', 'sh', '-c', 'exit 7']);
    expect(result.exitCode).toBe(7);
  });

  it('shows the container view of the env', async () => {
    const { stdout } = await berth(['env', 'a', '--repo', repo.root, '--container']);
    expect(stdout).toMatch(/^DATABASE_URL=postgres:\/\/notes:[^@]+@postgres:5432\/notes$/m);
    expect(stdout).toMatch(/^REDIS_URL=redis:\/\/:[^@]+@redis:6379$/m);
  });

  it('tears down: nothing labelled remains, the unmerged branch is kept, a second run is a no-op', async () => {
    const first = await berth(['teardown', 'a', '--repo', repo.root, '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(resultOf(first, 'teardown')).toMatchObject({ removed: true, branchOutcome: 'kept-unmerged' });
    expect(await leftovers(repo.root, 'a')).toEqual({
      containers: 0,
      networks: 0,
      volumes: 0,
      worktrees: 0,
      branches: 1,
      state: 0,
    });
    const second = await berth(['teardown', 'a', '--repo', repo.root]);
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain('nothing to tear down');
  });
});
