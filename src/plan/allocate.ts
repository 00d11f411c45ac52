import { type BerthError, EnvironmentError, UsageError } from '../errors.js';

export interface PortRange {
  low: number;
  high: number;
}

export function parsePortRange(range: string): PortRange {
  const [low, high] = range.split('-').map(Number) as [number, number];
  return { low, high };
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

function numberToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function parseCidr(cidr: string): { base: number; prefix: number } {
  const [ip, prefix] = cidr.split('/') as [string, string];
  const bits = Number(prefix);
  const size = 2 ** (32 - bits);
  return { base: Math.floor(ipToNumber(ip) / size) * size, prefix: bits };
}

export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const xEnd = x.base + 2 ** (32 - x.prefix);
  const yEnd = y.base + 2 ** (32 - y.prefix);
  return x.base < yEnd && y.base < xEnd;
}

/** The first subnet of size /`prefix` in the pool that overlaps none of the subnets in use. */
export function pickSubnet(pool: string, prefix: number, inUse: readonly string[]): string {
  const { base, prefix: poolPrefix } = parseCidr(pool);
  if (prefix < poolPrefix) {
    throw new UsageError('bad-subnet', `network.subnetPrefix /${prefix} is larger than the pool ${pool}`, {
      hint: 'use a larger subnetPrefix number (a smaller subnet) or a larger pool',
    });
  }
  const count = 2 ** (prefix - poolPrefix);
  const size = 2 ** (32 - prefix);
  for (let index = 0; index < count; index++) {
    const candidate = `${numberToIp(base + index * size)}/${prefix}`;
    if (!inUse.some((used) => overlaps(used, candidate))) return candidate;
  }
  throw new UsageError('no-free-subnet', `no free /${prefix} subnet left in ${pool}`, {
    hint: 'tear down agents you no longer need, or give network.subnetPool a larger range in berth.yaml',
    exitCode: 1,
  });
}

/** What the engine refused a stack for because another lease store gave the same away. */
export type EngineConflict =
  | { kind: 'subnet' }
  /** by: the engine (a container published it), or the host (a program of its own listens on it). */
  | { kind: 'port'; port: number; by: 'engine' | 'host' };

/**
 * Reads an engine error for a subnet or host port it already holds: a network another berth home (or
 * anyone) made on the subnet since it was leased here, or a port a container published meanwhile.
 */
export function engineConflict(message: string): EngineConflict | undefined {
  if (/Pool overlaps with other one on this address space|overlaps with/i.test(message))
    return { kind: 'subnet' };
  const published = /Bind for [^ ]*:(\d+) failed: port is already allocated/.exec(message);
  if (published?.[1]) return { kind: 'port', port: Number(published[1]), by: 'engine' };
  const listened = /listen tcp[46]? [^ ]*:(\d+): bind: address already in use/.exec(message);
  if (listened?.[1]) return { kind: 'port', port: Number(listened[1]), by: 'host' };
  return undefined;
}

/** How many times a provision takes another subnet or port the engine turned down, before it gives up. */
export const ENGINE_CONFLICT_TRIES = 4;

/** What the engine turned down, in words: the host port, or the stack's subnet. */
export function conflictWhat(stack: { subnet: string }, conflict: EngineConflict): string {
  return conflict.kind === 'port' ? `host port ${conflict.port}` : `subnet ${stack.subnet}`;
}

/** Who holds what the engine turned down, as a progress line says it before taking another. */
export function conflictHeld(stack: { subnet: string }, conflict: EngineConflict): string {
  return conflict.kind === 'port' && conflict.by === 'host'
    ? `a program on this host listens on host port ${conflict.port} already`
    : `the engine holds ${conflictWhat(stack, conflict)} already`;
}

/** The engine turned down `tries` choices in a row: the last one, and the engine's words. */
export function conflictPersists(
  stack: { subnet: string },
  conflict: EngineConflict,
  tries: number,
  engineSaid: string,
  cause?: unknown,
): BerthError {
  return new EnvironmentError(
    'engine-conflict',
    `the engine turned down ${tries} ${conflict.kind === 'port' ? 'host ports' : 'subnets'} in a row, the last ${conflictWhat(stack, conflict)} (${engineSaid})`,
    {
      hint: 'another program is taking berth`s ports or subnets as fast as it leases them: give berth.yaml another ports.range or network.subnetPool',
      cause,
    },
  );
}
