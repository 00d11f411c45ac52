import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { CONTAINER_PACKAGE_CACHE, type HostFacts, planCompose } from '../../src/plan/compose.js';
import { agentBuildsToRemove } from '../../src/plan/images.js';
import {
  defaultSnapshotLabel,
  sizeBytes,
  type TemplateImage,
  templateImage,
  templateKey,
  templatesToRemove,
  validateSnapshotLabel,
} from '../../src/plan/template.js';
import { agentFixture } from '../helpers/agent-fixture.js';

const keyInput = {
  repoId: '0123456789',
  baseImageId: 'sha256:aa',
  user: 'app',
  database: 'app',
  migrate: ['"npm run migrate"'],
  seed: [],
  source: { kind: 'base' as const, commit: 'c1' },
};

describe('template keys', () => {
  it('are the same for the same base and differ when anything that shapes the database differs', () => {
    const key = templateKey(keyInput);
    expect(templateKey({ ...keyInput })).toBe(key);
    for (const changed of [
      { source: { kind: 'base' as const, commit: 'c2' } },
      { baseImageId: 'sha256:bb' },
      { seed: ['"npm run seed"'] },
      { database: 'other' },
    ])
      expect(templateKey({ ...keyInput, ...changed })).not.toBe(key);
    expect(templateImage('0123456789', key)).toBe(`berth/pg-template:0123456789-${key}`);
  });

  it('with key: files, depend on the listed paths` ids only', () => {
    const files = (ids: Array<[string, string]>) =>
      templateKey({ ...keyInput, source: { kind: 'files', ids } });
    expect(files([['db', 't1']])).toBe(files([['db', 't1']]));
    expect(files([['db', 't1']])).not.toBe(files([['db', 't2']]));
  });
});

describe('which templates gc removes', () => {
  const t = (ref: string, createdAt: number, bytes = 5e9, repoId = 'r1'): TemplateImage => ({
    ref,
    repoId,
    key: ref,
    bytes,
    createdAt,
  });

  it('keeps all while they fit the budget', () => {
    expect(templatesToRemove([t('a', 1), t('b', 2)], new Set(), 20e9)).toEqual([]);
  });

  it('removes the oldest unused first, never one in use nor the newest of a repository', () => {
    const all = [t('a', 1), t('b', 2), t('c', 3), t('d', 4), t('x', 1, 5e9, 'r2')];
    const removed = templatesToRemove(all, new Set(['a']), 12e9).map((r) => r.ref);
    expect(removed).toEqual(['b', 'c']);
    expect(templatesToRemove(all, new Set(), 0).map((r) => r.ref)).toEqual(['a', 'b', 'c']);
  });

  it('keeps the template of the current base, not the newest, when the current base is known', () => {
    const all = [t('a', 1), t('b', 2), t('c', 3)];
    // The base moved back to a's: c, the newest, is no base's now and goes; a stays.
    expect(templatesToRemove(all, new Set(), 0, 'a').map((r) => r.ref)).toEqual(['b', 'c']);
  });
});

describe('which agent images gc removes', () => {
  const images = [
    { ref: 'berth-build/agent:old', id: 'sha256:1' },
    { ref: 'berth-build/agent:running', id: 'sha256:2' },
    { ref: 'berth-build/agent:by-id', id: 'sha256:3' },
    { ref: 'berth-build/agent:now', id: 'sha256:4' },
  ];
  it('keeps what a container uses (by tag or id) and what the config builds now', () => {
    const inUse = new Set(['berth-build/agent:running', 'sha256:3']);
    expect(agentBuildsToRemove(images, inUse, 'berth-build/agent:now')).toEqual(['berth-build/agent:old']);
    expect(agentBuildsToRemove(images, new Set(), undefined)).toEqual(images.map((image) => image.ref));
  });
});

describe('sizes and snapshot labels', () => {
  it('reads decimal sizes', () => {
    expect(sizeBytes('20GB')).toBe(20e9);
    expect(sizeBytes('1.5 mb')).toBe(1.5e6);
    expect(() => sizeBytes('lots')).toThrow();
  });

  it('accepts tag-safe labels and refuses the rest with a hint', () => {
    expect(validateSnapshotLabel('before-risky.1')).toBe('before-risky.1');
    for (const bad of ['', 'Upper', '-x', 'a b', 'x'.repeat(41), 'a:b'])
      expect(() => validateSnapshotLabel(bad)).toThrow(/not a valid snapshot label/);
    expect(validateSnapshotLabel(defaultSnapshotLabel(Date.UTC(2026, 10, 25, 12, 30, 5)))).toBe(
      '20261125-123005',
    );
  });
});

describe('shared package caches', () => {
  const host: HostFacts = { commonGitDir: '/src/app/.git', berthDir: '/src/app/.git/berth' };
  type Service = { volumes: unknown[]; environment: Record<string, string> };
  const agentService = (facts: HostFacts) =>
    (planCompose(agentFixture(), parseConfig(''), facts) as { services: { agent: Service } }).services.agent;

  it('mounts the user`s cache folder and points npm, pnpm, yarn and pip at it', () => {
    const agent = agentService({ ...host, packageCache: '/var/lib/berth/package-cache/1000' });
    expect(agent.volumes).toContainEqual({
      type: 'bind',
      source: '/var/lib/berth/package-cache/1000',
      target: CONTAINER_PACKAGE_CACHE,
    });
    expect(agent.volumes).toContainEqual({
      type: 'bind',
      source: '/var/lib/berth/package-cache/1000/yarnrc',
      target: '/tmp/.yarnrc',
      read_only: true,
    });
    expect(agent.environment).toMatchObject({
      npm_config_cache: `${CONTAINER_PACKAGE_CACHE}/npm`,
      pnpm_config_store_dir: `${CONTAINER_PACKAGE_CACHE}/pnpm/store`,
      PNPM_HOME: `${CONTAINER_PACKAGE_CACHE}/pnpm`,
      YARN_CACHE_FOLDER: `${CONTAINER_PACKAGE_CACHE}/yarn`,
      PIP_CACHE_DIR: `${CONTAINER_PACKAGE_CACHE}/pip`,
    });
  });

  it('sets only what npm knows: npm run with the agent`s variables warns of nothing', async () => {
    // The real npm (the one running these tests): it warns `Unknown env config` for an npm_config_*
    // it does not know (pnpm's store-dir was one), on every run inside an agent.
    const environment = agentService({
      ...host,
      packageCache: '/var/lib/berth/package-cache/1000',
    }).environment;
    const cacheEnv = Object.fromEntries(
      Object.entries(environment).filter(([key]) => /^(npm|pnpm)_config_|^PNPM_HOME$/i.test(key)),
    );
    const npm = await execa('npm', ['config', 'get', 'cache'], {
      env: { PATH: process.env.PATH, HOME: '/tmp', ...cacheEnv, npm_config_update_notifier: 'false' },
      extendEnv: false,
      reject: false,
    });
    expect(npm.stderr).toBe('');
    expect(npm.stdout.trim()).toBe(`${CONTAINER_PACKAGE_CACHE}/npm`);
  });

  it('mounts nothing when the cache is off', () => {
    const agent = agentService(host);
    expect(JSON.stringify(agent.volumes)).not.toContain(CONTAINER_PACKAGE_CACHE);
    expect(agent.environment.npm_config_cache).toBeUndefined();
  });
});
