import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { type PoolMember, planFill, poolKey, readyMembers } from '../../src/plan/pool.js';

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

  it('removes ready members of an older key and makes up to the size, counting those being made', () => {
    expect(planFill(members, 'k1', 5)).toEqual({ stale: [members.d], toMake: 2 });
    expect(planFill(members, 'k1', 2).toMake).toBe(0);
    expect(planFill({}, 'k1', 3).toMake).toBe(3);
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
});
