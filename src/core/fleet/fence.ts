import {
  canFence,
  type FenceResult,
  fenceOwners,
  fenceQueueFromContainers,
  type QueueAddress,
  removeFenceRules,
} from '../../adapters/firewall.js';
import type { Runtime } from '../../runtime.js';
import { FENCE_LOCK } from '../../state/paths.js';
import { withLock } from '../../state/store.js';

/**
 * The fleet's fence (iptables rules keeping containers from the queue), shared by every queue and worker
 * on the host: each adds rules under its own name and removes only those, under one host-wide lock, and
 * the chains go with the last rule.
 */

/** The owner name of an embedded queue's rules: they live as long as the queue, not the command. */
export function queueOwner(port: number): string {
  return `queue:${port}`;
}

/** The owner name of a worker's rules: its process, so that a killed worker's rules can be told apart. */
export function workerOwner(self: { pid: number; startTime: string }): string {
  return `worker:${self.pid}:${self.startTime}`;
}

export async function fence(queue: QueueAddress, owner: string): Promise<FenceResult> {
  const can = canFence();
  if (!can.ok) return can;
  return withLock(FENCE_LOCK.dir, FENCE_LOCK.name, () => fenceQueueFromContainers(queue, owner));
}

/**
 * Removes `owner`'s rules, and those of workers on this host that died without removing theirs (killed:
 * their process is gone).
 */
export async function unfence(owner: string | undefined, runtime: Pick<Runtime, 'isRunning'>): Promise<void> {
  if (!canFence().ok) return;
  await withLock(FENCE_LOCK.dir, FENCE_LOCK.name, async () => {
    const dead = (name: string) => {
      const [kind, pid, startTime] = name.split(':');
      return kind === 'worker' && !runtime.isRunning({ pid: Number(pid), startTime: startTime ?? '' });
    };
    const owners = await fenceOwners();
    if (!owners.some((name) => name === owner || dead(name))) return;
    await removeFenceRules((name) => name === owner || dead(name));
  });
}
