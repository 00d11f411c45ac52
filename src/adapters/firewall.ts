import { lookup } from 'node:dns/promises';
import { findExecutable, run } from './programs.js';

/**
 * berth's own iptables chains: containers on this host may not open connections to the fleet's queue.
 * Agents run untrusted code; the queue holds every task's command. Docker's published ports are served
 * by its proxy on the host's own addresses (INPUT), and a queue on another host is reached through
 * FORWARD (DOCKER-USER is the chain Docker leaves to its users there).
 *
 * Each rule carries its owner in a comment (`berth:queue:<port>`, `berth:worker:<pid>:<start>`): an
 * owner removes only its own rules, and the chains go when no rule is left in them.
 */
const CHAINS = [
  { chain: 'BERTH-FLEET-IN', from: 'INPUT' },
  { chain: 'BERTH-FLEET-FWD', from: 'DOCKER-USER' },
] as const;
/** Container bridges: the default one and every user-defined one (berth's agents' networks among them). */
const BRIDGES = ['docker0', 'br-+'];
const OWNER_PREFIX = 'berth:';

export interface QueueAddress {
  /** The queue's address as workers reach it (an IP). */
  ip: string;
  port: number;
}

export type FenceResult = { ok: true } | { ok: false; reason: string };

/** Whether this host can fence at all (iptables present). */
export function canFence(): FenceResult {
  return findExecutable('iptables') ? { ok: true } : { ok: false, reason: 'iptables is not installed' };
}

/**
 * Rejects connections from containers on this host to the queue, wherever it runs, with rules owned by
 * `owner` (a word of letters, digits, `:` and `-`). Idempotent.
 */
export async function fenceQueueFromContainers(queue: QueueAddress, owner: string): Promise<FenceResult> {
  const can = canFence();
  if (!can.ok) return can;
  const comment = ['-m', 'comment', '--comment', `${OWNER_PREFIX}${owner}`];
  const local = (bridge: string) => ['-i', bridge, '-p', 'tcp', '--dport', String(queue.port)];
  const rules: Array<[string, string[]]> = BRIDGES.flatMap((bridge) => [
    ['BERTH-FLEET-IN', local(bridge)] as [string, string[]],
    ...(isLoopback(queue.ip)
      ? []
      : [['BERTH-FLEET-FWD', ['-d', queue.ip, ...local(bridge)]] as [string, string[]]]),
  ]);
  for (const { chain } of CHAINS) await iptables(['-N', chain]); // exists already: fine
  // The rules first, then the jumps to them: a chain is never reached half-filled.
  for (const [chain, match] of rules) {
    const rule = [...match, ...comment, '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    if ((await iptables(['-C', chain, ...rule])).ok) continue;
    const added = await iptables(['-A', chain, ...rule]);
    if (!added.ok) return { ok: false, reason: added.reason };
  }
  for (const { chain, from } of CHAINS) {
    if ((await iptables(['-C', from, '-j', chain])).ok) continue;
    const jumped = await iptables(['-I', from, '1', '-j', chain]);
    if (!jumped.ok) return { ok: false, reason: jumped.reason };
  }
  return { ok: true };
}

/** The owners of berth's fence rules on this host (without the `berth:` prefix). */
export async function fenceOwners(): Promise<string[]> {
  const owners = new Set<string>();
  for (const { chain } of CHAINS)
    for (const rule of await listRules(chain)) if (rule.owner) owners.add(rule.owner);
  return [...owners];
}

/**
 * Removes the rules whose owner `matches`; then each chain left with no rule at all (no other user of
 * it remains, berth's or anyone's) goes, with the jumps to it.
 */
export async function removeFenceRules(matches: (owner: string) => boolean): Promise<void> {
  if (!canFence().ok) return;
  for (const { chain, from } of CHAINS) {
    const rules = await listRules(chain);
    for (const rule of rules.filter((r) => r.owner !== undefined && matches(r.owner)))
      await iptables(['-D', chain, ...rule.spec]);
    if ((await listRules(chain)).length > 0) continue;
    while ((await iptables(['-D', from, '-j', chain])).ok) {}
    await iptables(['-X', chain]);
  }
}

/** Removes berth's chains and the jumps to them, whatever rules they hold (a host leaving berth for good). */
export async function removeQueueFence(): Promise<void> {
  if (!canFence().ok) return;
  for (const { chain, from } of CHAINS) {
    while ((await iptables(['-D', from, '-j', chain])).ok) {}
    await iptables(['-F', chain]);
    await iptables(['-X', chain]);
  }
}

interface Rule {
  /** The rule as `iptables -S` prints it, after `-A <chain>`. */
  spec: string[];
  owner?: string;
}

/** A chain's rules (none when it does not exist). */
async function listRules(chain: string): Promise<Rule[]> {
  const result = await run('iptables', ['-w', '-S', chain]);
  if (result.exitCode !== 0) return [];
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith(`-A ${chain} `))
    .map((line) => {
      // berth's comments hold no spaces, so the words split as iptables printed them; it quotes comments.
      const spec = line
        .split(' ')
        .slice(2)
        .map((word) => word.replace(/^"(.*)"$/, '$1'));
      const at = spec.indexOf('--comment');
      const comment = at >= 0 ? spec[at + 1] : undefined;
      return {
        spec,
        ...(comment?.startsWith(OWNER_PREFIX) && { owner: comment.slice(OWNER_PREFIX.length) }),
      };
    });
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
