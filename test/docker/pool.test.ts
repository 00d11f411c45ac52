import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/core/agent/provision.js';
import { teardown } from '../../src/core/agent/teardown.js';
import { repoLabels } from '../../src/plan/names.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
const state = () => readState(join(repo.root, '.git', 'berth'));
const repoResources = async () => {
  const filters = {
    label: Object.entries(repoLabels(state().agents.c0?.repoId ?? repoId)).map(([k, v]) => `${k}=${v}`),
  };
  const [containers, networks] = await Promise.all([
    docker().listContainers({ all: true, filters }),
    docker().listNetworks({ filters }),
  ]);
  return containers.length + networks.length;
};
let repoId = '';

beforeAll(async () => {
  repo = await makeRepo({ files: { 'berth.yaml': 'pool: { size: 5 }\n' } });
  // The test fills the pool itself: no background refill races its counts.
  process.env.BERTH_POOL_REFILL = '0';
});
afterAll(async () => {
  delete process.env.BERTH_POOL_REFILL;
  await berth(['pool', 'drain', '--repo', repo.root]);
  await repo.cleanup();
});

describe('the warm pool', () => {
  it('is filled to its size, one environment at a time, and listed', async () => {
    const fill = resultOf(await berth(['pool', 'fill', '--repo', repo.root, '--json']), 'pool fill');
    expect(fill).toMatchObject({ ready: 5, removed: [], failed: [] });
    expect(fill.made).toHaveLength(5);
    const listed = resultOf(await berth(['ls', '--pool', '--repo', repo.root, '--json']), 'ls');
    expect(listed.pool?.map((m) => m.status)).toEqual(['ready', 'ready', 'ready', 'ready', 'ready']);
    // A second fill finds it full.
    expect(resultOf(await berth(['pool', 'fill', '--repo', repo.root, '--json']), 'pool fill').made).toEqual(
      [],
    );
  });

  it('never hands one environment to two provisions: 20 at once on a pool of 5', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const views = await Promise.all(names.map((name) => provision({ name, repo: repo.root })));
    expect(views.map((v) => v.state)).toEqual(names.map(() => 'running'));
    const adopted = names.map((name) => state().agents[name]?.pooled).filter(Boolean);
    expect(adopted).toHaveLength(5);
    expect(new Set(adopted).size).toBe(5);
    expect(state().pool ?? {}).toEqual({});
    repoId = state().agents.c0?.repoId ?? '';
    // Adopted or made cold, each agent reaches its own Postgres and Redis, healthy.
    const listed = resultOf(await berth(['ls', '--repo', repo.root, '--json']), 'ls');
    expect(listed.agents.map((e) => e.agent?.health)).toEqual(names.map(() => 'ok'));
    const ports = listed.agents.flatMap((e) => Object.values(e.agent?.ports ?? {}));
    expect(new Set(ports).size).toBe(ports.length);
    for (const name of names) await teardown({ name, repo: repo.root, force: true });
    expect(await repoResources()).toBe(0);
  });

  it('passes over an environment whose stack stopped since it was made, and removes it', async () => {
    await berth(['pool', 'fill', '--repo', repo.root]);
    const oldest = Object.values(state().pool ?? {}).sort((a, b) =>
      a.createdAt.localeCompare(b.createdAt),
    )[0];
    if (!oldest) throw new Error('the pool is empty');
    const stopped = await docker().listContainers({ filters: { label: [`dev.berth.agent=${oldest.id}`] } });
    for (const c of stopped) await docker().getContainer(c.Id).stop({ t: 1 });
    await provision({ name: 'after-restart', repo: repo.root });
    const adopted = state().agents['after-restart']?.pooled;
    expect(adopted).toBeTruthy();
    expect(adopted).not.toBe(oldest.id);
    expect(state().pool?.[oldest.id]).toBeUndefined();
    const left = await docker().listContainers({
      all: true,
      filters: { label: [`dev.berth.agent=${oldest.id}`] },
    });
    expect(left).toEqual([]);
    await teardown({ name: 'after-restart', repo: repo.root, force: true });
    await berth(['pool', 'drain', '--repo', repo.root]);
  });

  it('a fill killed part-way leaves what berth gc removes', async () => {
    const killed = await execa(process.execPath, [BIN, 'pool', 'fill', '--repo', repo.root], {
      reject: false,
      env: { BERTH_TEST_CRASH_AFTER: 'pool-stack' },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(Object.values(state().pool ?? {}).map((m) => m.status)).toEqual(['making']);
    const gc = resultOf(await berth(['gc', '--repo', repo.root, '--json']), 'gc');
    expect(gc.actions.filter((a) => a.kind === 'pool')).toHaveLength(1);
    expect(state().pool ?? {}).toEqual({});
    expect(await repoResources()).toBe(0);
  });
});
