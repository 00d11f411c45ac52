import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../src/state/store.js';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

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
    await execa('sh', ['-c', `printf 'ports: { range: "29500-29503" }\\n' > '${range[1]}'`]);
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
