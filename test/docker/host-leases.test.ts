import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLeases } from '../../src/state/leases.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { docker, TEST_LABEL, TEST_SCOPE } from '../helpers/docker.js';
import { imageFor } from '../helpers/images.js';
import { unleasedRange } from '../helpers/ports.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

const repos: TestRepo[] = [];
beforeAll(async () => {
  // 30 Postgres clusters starting at once on two cores need more than the default minute.
  for (let i = 0; i < 3; i++) repos.push(await makeRepo({ files: { 'berth.yaml': 'healthTimeout: 300\n' } }));
});
afterAll(async () => {
  for (const repo of repos) await repo.cleanup();
});

describe('ports and subnets are the host`s, leased across repositories', () => {
  it('3 repositories x 10 provisions at once: none fails, and no port or subnet is shared', async () => {
    const runs = repos.flatMap((repo, r) =>
      Array.from({ length: 10 }, (_, i) =>
        execa(process.execPath, [BIN, 'provision', `r${r}-${i}`, '--repo', repo.root, '--json'], {
          reject: false,
        }),
      ),
    );
    const results = await Promise.all(runs);
    for (const result of results) expect(result.exitCode, String(result.stderr)).toBe(0);
    const agents = repos.flatMap((repo) => Object.values(readState(join(repo.root, '.git', 'berth')).agents));
    expect(agents).toHaveLength(30);
    const ports = agents.flatMap((agent) => Object.values(agent.ports));
    expect(new Set(ports).size).toBe(ports.length);
    const subnets = agents.map((agent) => agent.subnet);
    expect(new Set(subnets).size).toBe(subnets.length);
    for (const [r, repo] of repos.entries()) {
      const down = await Promise.all(
        Array.from({ length: 10 }, (_, i) => berth(['teardown', `r${r}-${i}`, '--repo', repo.root])),
      );
      expect(down.map((d) => d.exitCode)).toEqual(down.map(() => 0));
    }
  });

  it('a stack its user took down keeps its ports and subnet: another repository leases around them', async () => {
    const [a, b] = repos as [TestRepo, TestRepo];
    const range = ['--config', join(a.root, '..', 'narrow.yaml')];
    // Four ports nobody holds now: room for exactly the two agents' Postgres and Redis.
    writeFileSync(range[1] as string, `ports: { range: "${await unleasedRange(4, 29_500)}" }\n`);
    const first = await berth(['provision', 'paused', '--repo', a.root, '--json', ...range]);
    expect(first.exitCode, first.stderr).toBe(0);
    const paused = resultOf(first, 'provision').agent;
    const down = await execa('docker', [
      'compose',
      '-p',
      paused.composeProject,
      '-f',
      paused.composeFile,
      'down',
    ]);
    expect(down.exitCode).toBe(0);

    const second = await berth(['provision', 'neighbour', '--repo', b.root, '--json', ...range]);
    expect(second.exitCode, second.stderr).toBe(0);
    const neighbour = resultOf(second, 'provision').agent;
    for (const port of Object.values(neighbour.ports))
      expect(Object.values(paused.ports)).not.toContain(port);
    const subnetOf = (repo: TestRepo, name: string) =>
      readState(join(repo.root, '.git', 'berth')).agents[name]?.subnet;
    expect(subnetOf(b, 'neighbour')).not.toBe(subnetOf(a, 'paused'));

    // Its ports and subnet are still free for it: the user brings it back up.
    const up = await execa(
      'docker',
      ['compose', '-p', paused.composeProject, '-f', paused.composeFile, 'up', '-d'],
      {
        reject: false,
      },
    );
    expect(up.exitCode, String(up.stderr)).toBe(0);
    const listed = listedAgents(await berth(['ls', '--repo', a.root, '--json']));
    expect(listed[0]).toMatchObject({ name: 'paused', state: 'running' });
  });
});

/** What another lease store's agent would do meanwhile: a container of this test's published on `port`. */
async function squat(port: number | undefined) {
  const squatter = await docker().createContainer({
    Image: await imageFor('redis'),
    Labels: { [TEST_LABEL]: TEST_SCOPE },
    HostConfig: { PortBindings: { '6379/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } },
    ExposedPorts: { '6379/tcp': {} },
  });
  await squatter.start();
  return squatter;
}

describe('a second lease store on the same engine (another berth home, BERTH_LEASES)', () => {
  const stateOf = (repo: TestRepo) => readState(join(repo.root, '.git', 'berth'));

  it('a subnet and a port the engine took since they were leased here are leased again, elsewhere, and said', async () => {
    const repo = repos[0] as TestRepo;
    const gate = join(repo.root, '..', 'conflict-gate');
    const child = execa(process.execPath, [BIN, 'provision', 'conflicted', '--repo', repo.root, '--json'], {
      reject: false,
      env: { BERTH_TEST_HOLD_AFTER: `files:${gate}` },
    });
    const held = await eventually(async () => {
      const record = stateOf(repo).agents.conflicted;
      if (!record || !existsSync(record.composeFile)) throw new Error('not reserved yet');
      return record;
    }, 120_000);
    // What the other lease store's agent makes meanwhile, on the same engine: a network on this agent's
    // subnet, and a container published on its Postgres port.
    const client = docker();
    const network = await client.createNetwork({
      Name: `berth-test-other-home-${process.pid}`,
      Labels: { [TEST_LABEL]: TEST_SCOPE },
      IPAM: { Config: [{ Subnet: held.subnet }] },
    });
    const squatter = await squat(held.ports.postgres);
    try {
      writeFileSync(gate, '');
      const result = await child;
      expect(result.exitCode, String(result.stderr)).toBe(0);
      expect(String(result.stderr)).toMatch(
        `conflicted: the engine holds subnet ${held.subnet} already; taking another`,
      );
      expect(String(result.stderr)).toMatch(
        `conflicted: the engine holds host port ${held.ports.postgres} already; taking another`,
      );
      const now = stateOf(repo).agents.conflicted;
      expect(now?.subnet).not.toBe(held.subnet);
      expect(now?.ports.postgres).not.toBe(held.ports.postgres);
      const leases = readLeases(process.env);
      expect(leases.subnets[held.subnet]?.agent).not.toBe('conflicted');
      expect(leases.ports[String(held.ports.postgres)]?.agent).not.toBe('conflicted');
      expect(leases.subnets[now?.subnet ?? '']).toMatchObject({
        agent: 'conflicted',
        instance: now?.instance,
      });
      expect(listedAgents(await berth(['ls', '--repo', repo.root, '--json']))).toContainEqual(
        expect.objectContaining({ name: 'conflicted', state: 'running', health: 'ok' }),
      );
      const env = readFileSync(now?.envFile ?? '', 'utf8');
      expect(env).toContain(`BERTH_PORT_POSTGRES=${now?.ports.postgres}`);
    } finally {
      await squatter.remove({ force: true, v: true });
      await network.remove();
      await berth(['teardown', 'conflicted', '--repo', repo.root]);
    }
  });

  it('an agent`s leases are released in the store it leased from, whichever berth home removes it', async () => {
    const repo = repos[1] as TestRepo;
    const [storeA, storeB] = [
      mkdtempSync(join(tmpdir(), 'berth-leases-a-')),
      mkdtempSync(join(tmpdir(), 'berth-leases-b-')),
    ];
    try {
      const short = join(repo.root, '..', 'short.yaml');
      writeFileSync(short, 'ttl: 1s\n');
      const made = await berth(['provision', 'elsewhere', '--repo', repo.root, '--config', short, '--json'], {
        env: { BERTH_LEASES: storeA },
      });
      expect(made.exitCode, made.stderr).toBe(0);
      const leasedIn = (dir: string) => {
        const file = join(dir, 'leases.json');
        if (!existsSync(file)) return [];
        const leases = JSON.parse(readFileSync(file, 'utf8')) as { ports: object; subnets: object };
        return [...Object.values(leases.ports), ...Object.values(leases.subnets)].filter(
          (lease) => (lease as { agent: string }).agent === 'elsewhere',
        );
      };
      expect(leasedIn(storeA).length).toBeGreaterThan(0);
      await sleep(1500); // its 1 s time to live runs out
      const gc = await berth(['gc', '--repo', repo.root, '--json'], { env: { BERTH_LEASES: storeB } });
      expect(gc.exitCode, gc.stderr).toBe(0);
      expect(resultOf(gc, 'gc').actions).toContainEqual(
        expect.objectContaining({ kind: 'agent', target: 'elsewhere' }),
      );
      expect(leasedIn(storeA)).toEqual([]);
      expect(leasedIn(storeB)).toEqual([]);
    } finally {
      await berth(['teardown', 'elsewhere', '--repo', repo.root, '--force']);
      rmSync(storeA, { recursive: true, force: true });
      rmSync(storeB, { recursive: true, force: true });
    }
  });

  it('a pool fill takes another port when the engine took its leased one meanwhile, and says so', async () => {
    const repo = repos[2] as TestRepo;
    const config = join(repo.root, '..', 'pool-one.yaml');
    writeFileSync(config, 'pool: { size: 1 }\n');
    const gate = join(repo.root, '..', 'pool-gate');
    const fill = execa(
      process.execPath,
      [BIN, 'pool', 'fill', '--repo', repo.root, '--config', config, '--json'],
      {
        reject: false,
        env: { BERTH_TEST_HOLD_AFTER: `pool-leased:${gate}` },
      },
    );
    const member = await eventually(async () => {
      const [making] = Object.values(stateOf(repo).pool ?? {});
      if (!making) throw new Error('not leased yet');
      return making;
    }, 120_000);
    const squatter = await squat(member.ports.postgres);
    try {
      writeFileSync(gate, '');
      const result = await fill;
      expect(result.exitCode, String(result.stderr)).toBe(0);
      expect(String(result.stderr)).toContain(
        `pool: the engine holds host port ${member.ports.postgres} already; taking another for ${member.id}`,
      );
      const ready = stateOf(repo).pool?.[member.id];
      expect(ready?.status).toBe('ready');
      expect(ready?.ports.postgres).not.toBe(member.ports.postgres);
      expect(readLeases(process.env).ports[String(ready?.ports.postgres)]).toMatchObject({
        agent: member.id,
      });
      expect(readLeases(process.env).ports[String(member.ports.postgres)]?.agent).not.toBe(member.id);
    } finally {
      await squatter.remove({ force: true, v: true });
      await berth(['pool', 'drain', '--repo', repo.root]);
    }
  });
});
