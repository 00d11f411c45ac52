import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts } from '../../src/adapters/ports.js';
import { conflictHeld, engineConflict, parsePortRange, pickSubnet } from '../../src/plan/allocate.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A port in use on 127.0.0.1, as another program would hold it. */
async function hold(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  servers.push(server);
}

describe('port leases', () => {
  it('skips ports leased or published already, and ports in use on the host', async () => {
    await hold(29803);
    const ports = await freePorts(3, parsePortRange('29800-29810'), new Set([29800, 29802]));
    expect(ports).toEqual([29801, 29804, 29805]);
  });

  it('says which range is exhausted', async () => {
    const range = parsePortRange('29820-29825');
    const taken = new Set([29820, 29821, 29822, 29823]);
    await hold(29824);
    await expect(freePorts(2, range, taken)).rejects.toThrow('no free port in 29820-29825');
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

describe('engineConflict and conflictHeld: what the engine turned down, and who holds it', () => {
  const stack = { subnet: '10.201.3.0/24' };
  it('reads a port a container published as held by the engine', () => {
    const said =
      'driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:41002 failed: port is already allocated';
    const conflict = engineConflict(said);
    expect(conflict).toEqual({ kind: 'port', port: 41002, by: 'engine' });
    expect(conflict && conflictHeld(stack, conflict)).toBe('the engine holds host port 41002 already');
  });
  it('reads a port a program of the host listens on as held by the host, not the engine', () => {
    const said = 'Error starting userland proxy: listen tcp4 127.0.0.1:41003: bind: address already in use';
    const conflict = engineConflict(said);
    expect(conflict).toEqual({ kind: 'port', port: 41003, by: 'host' });
    expect(conflict && conflictHeld(stack, conflict)).toBe(
      'a program on this host listens on host port 41003 already',
    );
  });
  it('reads an overlapping subnet, and nothing else', () => {
    const conflict = engineConflict(
      '(HTTP code 403) unexpected - Pool overlaps with other one on this address space',
    );
    expect(conflict).toEqual({ kind: 'subnet' });
    expect(conflict && conflictHeld(stack, conflict)).toBe('the engine holds subnet 10.201.3.0/24 already');
    expect(engineConflict('no such image')).toBeUndefined();
  });
});
