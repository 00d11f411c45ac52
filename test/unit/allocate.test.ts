import { describe, expect, it } from 'vitest';
import { parsePortRange, pickPorts, pickSubnet } from '../../src/plan/allocate.js';

const free = async () => true;

describe('port leases', () => {
  it('skips ports leased or published already, and ports the probe finds bound', async () => {
    const bound = new Set([20003]);
    const ports = await pickPorts(
      3,
      parsePortRange('20000-20010'),
      new Set([20000, 20002]),
      async (p) => !bound.has(p),
    );
    expect(ports).toEqual([20001, 20004, 20005]);
  });

  it('says which range is exhausted', async () => {
    const range = parsePortRange('20000-20010');
    const taken = new Set(Array.from({ length: 10 }, (_, i) => 20000 + i));
    await expect(pickPorts(2, range, taken, free)).rejects.toThrow('no free port in 20000-20010');
  });
});

describe('subnets', () => {
  it('picks the first /28 of the pool that overlaps nothing in use', () => {
    expect(pickSubnet('10.201.0.0/16', 28, [])).toBe('10.201.0.0/28');
    expect(pickSubnet('10.201.0.0/16', 28, ['10.201.0.0/28', '10.201.0.32/27'])).toBe('10.201.0.16/28');
  });

  it('holds 50 agents in the default pool', () => {
    const used: string[] = [];
    for (let i = 0; i < 50; i++) used.push(pickSubnet('10.201.0.0/16', 28, used));
    expect(new Set(used).size).toBe(50);
  });

  it('fails clearly when the pool is full', () => {
    expect(() => pickSubnet('10.201.0.0/27', 28, ['10.201.0.0/28', '10.201.0.16/28'])).toThrow(
      'no free /28 subnet left in 10.201.0.0/27',
    );
    expect(() => pickSubnet('10.201.0.0/16', 28, ['10.0.0.0/8'])).toThrow(/no free/);
  });
});
