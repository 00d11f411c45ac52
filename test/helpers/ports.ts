import { readLeases } from '../../src/state/leases.js';
import { docker } from './docker.js';

/**
 * `count` consecutive ports from `from` up that no berth lease holds and no container publishes now: a
 * narrow ports.range for a test, on a host others may be using (a fixed range may be theirs).
 */
export async function unleasedRange(count: number, from = 29_000): Promise<string> {
  const leases = readLeases(process.env);
  const published = new Set(
    (await docker().listContainers({ all: true })).flatMap((c) => c.Ports.map((p) => p.PublicPort)),
  );
  const taken = (port: number) => Boolean(leases.ports[String(port)]) || published.has(port);
  for (let low = from; low + count - 1 <= 29_999; low++) {
    const ports = Array.from({ length: count }, (_, i) => low + i);
    if (ports.every((port) => !taken(port))) return `${low}-${low + count - 1}`;
  }
  throw new Error(`no ${count} consecutive unleased ports in ${from}-29999`);
}
