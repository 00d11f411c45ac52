import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoLabels } from '../../src/plan/names.js';
import { readState } from '../../src/state/store.js';
import { shInAgent } from '../helpers/agent.js';
import { berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

/*
 * A warm pool member of a config with services: carries them (memcached, berth's stand-in), and the
 * provision that adopts it gets them whole: the same container, leases and random values.
 */

const CONFIG = `pool: { size: 1 }
redis: { enabled: false }
services:
  cache:
    image: "memcached:1.6"
    command: ["-m", "16"]
    env: { TOKEN: "\${random}" }
    ports: [11211]
    url: "memcache://\${host}:\${port}/\${env.TOKEN}"
`;

let repo: TestRepo;
const state = () => readState(join(repo.root, '.git', 'berth'));

/** Everything labelled for this test's repository: containers, networks, volumes. */
async function repoResources(repoId: string) {
  const filters = { label: Object.entries(repoLabels(repoId)).map(([k, v]) => `${k}=${v}`) };
  const [containers, networks, volumes] = await Promise.all([
    docker().listContainers({ all: true, filters }),
    docker().listNetworks({ filters }),
    docker().listVolumes({ filters }),
  ]);
  return containers.length + networks.length + (volumes.Volumes?.length ?? 0);
}

async function cacheOf(agentLabel: string) {
  const [found] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${agentLabel}`, 'com.docker.compose.service=cache'] },
  });
  if (!found) throw new Error(`no cache container of ${agentLabel}`);
  return docker().getContainer(found.Id).inspect();
}

/** memcached's answer to `version` on a host port. */
const versionAt = (port: number) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('version\r\n'));
    socket.setTimeout(10_000, () => reject(new Error('memcached did not answer')));
    socket.on('data', (data) => {
      resolve(String(data).trim());
      socket.destroy();
    });
    socket.on('error', reject);
  });

beforeAll(async () => {
  repo = await makeRepo({ files: { 'berth.yaml': CONFIG } });
  // The test fills the pool itself: no background refill races it.
  process.env.BERTH_POOL_REFILL = '0';
});
afterAll(async () => {
  delete process.env.BERTH_POOL_REFILL;
  await berth(['pool', 'drain', '--repo', repo.root]);
  await repo.cleanup();
});

describe('a warm pool member with services:', () => {
  it('carries them, and a provision that adopts it gets them whole', async () => {
    const fill = resultOf(await berth(['pool', 'fill', '--repo', repo.root, '--json']), 'pool fill');
    expect(fill, JSON.stringify(fill)).toMatchObject({ ready: 1, failed: [] });
    const member = Object.values(state().pool ?? {})[0];
    if (!member) throw new Error('no member');
    expect(Object.keys(member.services ?? {})).toEqual(['cache']);
    expect(member.ports.cache).toBeGreaterThan(0);
    const token = member.passwords['cache.TOKEN'] ?? '';
    expect(token).toMatch(/^[\w-]{24}$/);
    const made = await cacheOf(member.id);
    expect(made.State.Running).toBe(true);
    expect(made.Config.Env).toContain(`TOKEN=${token}`);
    expect(await versionAt(member.ports.cache ?? 0)).toMatch(/^VERSION \d/);

    const run = await berth(['provision', 'ps-a', '--repo', repo.root, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const agent = state().agents['ps-a'];
    expect(agent?.pooled).toBe(member.id);
    expect(state().pool ?? {}).toEqual({});
    expect(agent?.ports.cache).toBe(member.ports.cache);
    expect(agent?.passwords['cache.TOKEN']).toBe(token);
    // The member's own container, not one made anew.
    expect((await cacheOf(member.id)).Id).toBe(made.Id);
    expect(resultOf(run, 'provision').agent.services).toMatchObject({ cache: 'running' });
    // It answers the host on the lease, and the agent by name, with the member's random value in its URL.
    expect(await versionAt(agent?.ports.cache ?? 0)).toMatch(/^VERSION \d/);
    const inside = await shInAgent(
      repo.root,
      'ps-a',
      `echo "$CACHE_URL"; bash -c 'exec 3<>/dev/tcp/cache/11211; printf "version\\r\\n" >&3; read -t 5 line <&3; echo "$line"'`,
    );
    expect(inside.exitCode, inside.stderr).toBe(0);
    const [url, answer] = inside.stdout.trim().split('\n');
    expect(url).toBe(`memcache://cache:11211/${token}`);
    expect(answer).toMatch(/^VERSION \d/);
  });

  it('teardown, and a drain of a member made since, leave nothing', async () => {
    const repoId = state().agents['ps-a']?.repoId ?? '';
    expect(repoId).not.toBe('');
    const down = await berth(['teardown', 'ps-a', '--repo', repo.root, '--force']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await repoResources(repoId)).toBe(0);
    const fill = resultOf(await berth(['pool', 'fill', '--repo', repo.root, '--json']), 'pool fill');
    expect(fill.ready).toBe(1);
    expect(await repoResources(repoId)).toBeGreaterThan(0);
    const drain = await berth(['pool', 'drain', '--repo', repo.root]);
    expect(drain.exitCode, drain.stderr).toBe(0);
    expect(state().pool ?? {}).toEqual({});
    expect(await repoResources(repoId)).toBe(0);
  });
});
