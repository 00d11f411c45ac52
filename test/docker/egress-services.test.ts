import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView } from '../../src/contract.js';
import { EGRESS_IMAGE } from '../../src/plan/images.js';
import { shInAgent } from '../helpers/agent.js';
import { berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { type Outside, startOutside } from '../helpers/outside.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

/*
 * A service of services: behind the agent's egress proxy: memcached (berth's stand-in, built from
 * Debian's packages on first use) on the agent's internal network, reached by name from the agent, by
 * its leased port from the host (through the proxy), and with no way out of its own.
 */

const NAME = 'egs-a';
const CONFIG = `postgres: { enabled: false }
redis: { enabled: false }
network:
  egress:
    allow: [allowed.test]
services:
  memcached: { image: "memcached:1.6", command: ["-m", "16"], ports: [11211] }
`;

let repo: TestRepo;
let outside: Outside;
let agent: AgentView;

async function container(service: string) {
  const [found] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${NAME}`, `com.docker.compose.service=${service}`] },
  });
  if (!found) throw new Error(`no ${service} container`);
  return found.Id;
}

/** bash in the memcached container (as root: its own user is memcached's), within 10 s. */
const inMemcached = async (script: string) =>
  execa('docker', ['exec', await container('memcached'), 'timeout', '10', 'bash', '-c', script], {
    reject: false,
  });

beforeAll(async () => {
  // A run of this file alone may find the proxy's image missing (`npm test` readies the host first).
  if (
    !(await docker()
      .getImage(EGRESS_IMAGE)
      .inspect()
      .catch(() => undefined))
  )
    expect((await berth(['host', 'init'])).exitCode).toBe(0);
  outside = await startOutside(`egs-t${randomBytes(3).toString('hex')}`);
  repo = await makeRepo({ files: { 'berth.yaml': CONFIG } });
  // Ready means memcached answered its tcp probe, made from the proxy (the host has no route there).
  const run = await berth(['provision', NAME, '--repo', repo.root, '--json']);
  expect(run.exitCode, run.stderr).toBe(0);
  agent = resultOf(run, 'provision').agent;
  await outside.connectProxy(await container('egress'));
});

afterAll(async () => {
  await repo?.cleanup();
  await outside?.cleanup();
});

describe('a service of services: behind the egress proxy', () => {
  it('is reached by its name from the agent, directly (in NO_PROXY), at its fixed address', async () => {
    const run = await shInAgent(
      repo.root,
      NAME,
      `echo "$MEMCACHED_HOST:$MEMCACHED_PORT $NO_PROXY"; getent hosts memcached; bash -c 'exec 3<>/dev/tcp/memcached/11211; printf "version\\r\\n" >&3; read -t 5 line <&3; echo "$line"'`,
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const [variables, hosts, answer] = run.stdout.trim().split('\n');
    expect(variables).toBe('memcached:11211 localhost,127.0.0.1,::1,postgres,redis,memcached');
    const address = hosts?.split(/\s+/)[0] ?? '';
    expect(answer).toMatch(/^VERSION \d/);
    const info = await docker()
      .getContainer(await container('memcached'))
      .inspect();
    const networks = Object.entries(info.NetworkSettings.Networks);
    expect(networks).toHaveLength(1);
    expect(networks[0]?.[0]).toMatch(/_private$/);
    expect(networks[0]?.[1].IPAddress).toBe(address);
    expect(info.HostConfig.PortBindings ?? {}).toEqual({});
  });

  it('is reached from the host at its leased port, through the proxy', async () => {
    const port = agent.ports.memcached ?? 0;
    expect(port).toBeGreaterThan(0);
    // A real answer, not a connection the proxy accepted with nothing behind it.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('version\r\n'));
      socket.setTimeout(10_000, () => reject(new Error('memcached did not answer through the proxy')));
      socket.on('data', (data) => {
        resolve(String(data).trim());
        socket.destroy();
      });
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^VERSION \d/);
  });

  it('has no route out, and the proxy refuses it (the agent, beside it, gets out)', async () => {
    const target = outside.addresses['allowed.test'] ?? '';
    // The agent reaches a listed host through the proxy: the way out is there, for the agent alone.
    const through = await shInAgent(repo.root, NAME, 'curl -sS -m 10 http://allowed.test/');
    expect(through.stdout, through.stderr).toBe('hello from allowed.test');
    const direct = await inMemcached(`exec 3<>/dev/tcp/${target}/80 && echo connected`);
    expect(direct.stdout).not.toContain('connected');
    expect(direct.exitCode).not.toBe(0);
    const proxy = (await shInAgent(repo.root, NAME, 'getent hosts egress')).stdout.split(/\s+/)[0];
    expect(proxy).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const asked = await inMemcached(
      `exec 3<>/dev/tcp/${proxy}/3128; printf 'GET http://allowed.test/ HTTP/1.1\\r\\nHost: allowed.test\\r\\nConnection: close\\r\\n\\r\\n' >&3; cat <&3`,
    );
    expect(asked.stdout).toMatch(/^HTTP\/1\.1 403/);
    expect(asked.stdout).not.toContain('hello from');
    const refused = await eventually(async () => {
      const run = await berth(['logs', NAME, '--egress', '--repo', repo.root]);
      const found = run.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { reason: string; client: string; host: string })
        .find((decision) => decision.reason === 'not-the-agent');
      if (!found) throw new Error('no not-the-agent decision yet');
      return found;
    }, 15_000);
    expect(refused.host).toBe('allowed.test');
    const info = await docker()
      .getContainer(await container('memcached'))
      .inspect();
    expect(refused.client).toBe(Object.values(info.NetworkSettings.Networks)[0]?.IPAddress);
  });

  it('is removed with the agent at teardown: nothing is left', async () => {
    const down = await berth(['teardown', NAME, '--repo', repo.root, '--force']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await leftovers(repo.root, NAME)).toEqual(NOTHING);
  });
});
