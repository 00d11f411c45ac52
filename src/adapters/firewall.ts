import { lookup } from 'node:dns/promises';
import { findExecutable, run } from './run.js';

/**
 * berth's own iptables chains: containers on this host may not open connections to the fleet's queue.
 * Agents run untrusted code; the queue holds every task's command. Docker's published ports are served
 * by its proxy on the host's own addresses (INPUT), and a queue on another host is reached through
 * FORWARD (DOCKER-USER is the chain Docker leaves to its users there).
 */
const CHAINS = [
  { chain: 'BERTH-FLEET-IN', from: 'INPUT' },
  { chain: 'BERTH-FLEET-FWD', from: 'DOCKER-USER' },
] as const;
/** Container bridges: the default one and every user-defined one (berth's agents' networks among them). */
const BRIDGES = ['docker0', 'br-+'];

export interface QueueAddress {
  /** The queue's address as workers reach it (an IP). */
  ip: string;
  port: number;
}

export type FenceResult = { ok: true } | { ok: false; reason: string };

/** Rejects connections from containers on this host to the queue, wherever it runs. Idempotent. */
export async function fenceQueueFromContainers(queue: QueueAddress): Promise<FenceResult> {
  if (!findExecutable('iptables')) return { ok: false, reason: 'iptables is not installed' };
  for (const { chain, from } of CHAINS) {
    await iptables(['-N', chain]); // exists already: fine
    if (!(await iptables(['-C', from, '-j', chain])).ok) {
      const jumped = await iptables(['-I', from, '1', '-j', chain]);
      if (!jumped.ok) return { ok: false, reason: jumped.reason };
    }
  }
  const local = (bridge: string) => ['-i', bridge, '-p', 'tcp', '--dport', String(queue.port)];
  const rules: Array<[string, string[]]> = BRIDGES.flatMap((bridge) => [
    ['BERTH-FLEET-IN', local(bridge)] as [string, string[]],
    ...(isLoopback(queue.ip)
      ? []
      : [['BERTH-FLEET-FWD', ['-d', queue.ip, ...local(bridge)]] as [string, string[]]]),
  ]);
  for (const [chain, match] of rules) {
    const rule = [...match, '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    if ((await iptables(['-C', chain, ...rule])).ok) continue;
    const added = await iptables(['-A', chain, ...rule]);
    if (!added.ok) return { ok: false, reason: added.reason };
  }
  return { ok: true };
}

/** Removes berth's chains and the jumps to them (tests, and a host leaving fleet work for good). */
export async function removeQueueFence(): Promise<void> {
  for (const { chain, from } of CHAINS) {
    while ((await iptables(['-D', from, '-j', chain])).ok) {}
    await iptables(['-F', chain]);
    await iptables(['-X', chain]);
  }
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

async function iptables(args: string[]): Promise<FenceResult> {
  // -w: wait for the xtables lock (dockerd changes rules at the same time).
  const result = await run('iptables', ['-w', ...args]);
  if (result.exitCode === 0) return { ok: true };
  return { ok: false, reason: (result.stderr || result.stdout).split('\n')[0] ?? `exit ${result.exitCode}` };
}

/** The IPv4 address a host name stands for (an address stands for itself). */
export async function resolveAddress(host: string): Promise<string> {
  return (await lookup(host, { family: 4 })).address;
}
