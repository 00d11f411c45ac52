import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import {
  abandoned,
  memberServices,
  membersToMake,
  type PoolMember,
  pickMember,
  poolKey,
  readyMembers,
  removalReason,
} from '../../src/plan/pool.js';
import { configuredServices } from '../../src/plan/services.js';

const member = (id: string, key: string, status: PoolMember['status'], createdAt: string) =>
  ({ id, key, status, createdAt }) as PoolMember;

describe('the warm pool`s decisions', () => {
  const members = {
    a: member('a', 'k1', 'ready', '2026-11-25T10:00:02Z'),
    b: member('b', 'k1', 'ready', '2026-11-25T10:00:01Z'),
    c: member('c', 'k1', 'making', '2026-11-25T10:00:00Z'),
    d: member('d', 'k0', 'ready', '2026-11-25T09:00:00Z'),
  };

  it('gives the oldest ready member of the key first, and none of another key or still being made', () => {
    expect(readyMembers(members, 'k1').map((m) => m.id)).toEqual(['b', 'a']);
    expect(readyMembers(members, 'k2')).toEqual([]);
  });

  it('makes up to the size, counting those being made and not those being removed', () => {
    expect(membersToMake(members, 'k1', 5)).toBe(2);
    expect(membersToMake(members, 'k1', 2)).toBe(0);
    expect(membersToMake({}, 'k1', 3)).toBe(3);
    expect(membersToMake({ ...members, e: member('e', 'k1', 'removing', '') }, 'k1', 5)).toBe(2);
    // No key: the base's template is not built yet, and nothing is made.
    expect(membersToMake({}, undefined, 3)).toBe(0);
  });

  it('lets a provision adopt only a ready member of its key whose stack was seen running', () => {
    expect(pickMember(members, 'k1', new Set(['a', 'b']))?.id).toBe('b');
    expect(pickMember(members, 'k1', new Set(['a']))?.id).toBe('a');
    expect(pickMember(members, 'k1', new Set(['c', 'd']))).toBeUndefined();
  });

  it('removes only what nobody else owns: drain the ready and the abandoned, gc only the abandoned', () => {
    const alive = { isRunning: (p: { pid: number }) => p.pid === 1 };
    const owned = (status: PoolMember['status'], pid: number) => ({
      ...member('x', 'k1', status, ''),
      owner: { pid, startTime: '0' },
    });
    const reason = (m: PoolMember, kind: 'drain' | 'gc') => removalReason(m, { kind }, alive);
    expect(reason(members.a, 'drain')).toBe('the pool was drained');
    expect(reason(members.a, 'gc')).toBeUndefined();
    for (const status of ['making', 'removing'] as const) {
      // Its maker or remover runs: it is theirs, to drain and to gc alike.
      expect(reason(owned(status, 1), 'drain')).toBeUndefined();
      expect(reason(owned(status, 1), 'gc')).toBeUndefined();
      // Its maker or remover is gone: anyone may finish it.
      expect(abandoned(owned(status, 2), alive)).toBe(true);
      expect(reason(owned(status, 2), 'gc')).toMatch(/stopped|interrupted/);
      expect(reason(owned(status, 2), 'drain')).toMatch(/stopped|interrupted/);
    }
    const stale = (m: PoolMember) => removalReason(m, { kind: 'stale', key: 'k1' }, alive);
    expect([members.a, members.c, members.d].map(stale)).toEqual([
      undefined,
      undefined,
      'a warm pool member of an older base',
    ]);
    expect(removalReason(members.a, { kind: 'stopped' }, alive)).toBe(
      'a warm pool member whose stack stopped',
    );
    expect(removalReason(owned('making', 1), { kind: 'stopped' }, alive)).toBeUndefined();
  });

  it('keys members by what their stack is made of', () => {
    const input = {
      repoId: 'r',
      images: { agent: 'a', postgres: 'p', redis: 'r' },
      postgres: { user: 'app', database: 'app', storage: 'ephemeral' as const, preinitialised: true },
      config: parseConfig(''),
    };
    const key = poolKey(input);
    expect(poolKey({ ...input })).toBe(key);
    expect(poolKey({ ...input, images: { ...input.images, postgres: 'template' } })).not.toBe(key);
    expect(poolKey({ ...input, config: parseConfig('redis: { enabled: false }') })).not.toBe(key);
  });

  it('keys members by their services of services: too, and pools without any as before', () => {
    const input = {
      repoId: 'r',
      images: { agent: 'a', postgres: 'p', redis: 'r' },
      postgres: { user: 'app', database: 'app', storage: 'ephemeral' as const, preinitialised: true },
      config: parseConfig(''),
    };
    const key = poolKey(input);
    expect(poolKey({ ...input, services: {} })).toBe(key);
    const config = parseConfig(
      'pool: { size: 1 }\nservices:\n  cache: { image: "memcached:1.6", ports: [11211] }\n',
    );
    const services = configuredServices(config);
    const withCache = poolKey({ ...input, config, services });
    expect(withCache).not.toBe(poolKey({ ...input, config }));
    const standIn = {
      cache: { ...services.cache, image: 'berth-offline/memcached:bookworm' },
    } as typeof services;
    expect(poolKey({ ...input, config, services: standIn })).not.toBe(withCache);
  });

  it('counts a member whole only with each of its services', () => {
    expect(memberServices({ redisEnabled: true })).toEqual(['postgres', 'redis']);
    const services = configuredServices(
      parseConfig('services:\n  cache: { image: x }\n  mail: { image: y }\n'),
    );
    expect(memberServices({ redisEnabled: false, services })).toEqual(['postgres', 'cache', 'mail']);
  });
});
