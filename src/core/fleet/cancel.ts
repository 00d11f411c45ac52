import { setTimeout as sleep } from 'node:timers/promises';
import { openQueue } from '../../adapters/queue.js';
import { checkQueue } from '../../adapters/queue-redis.js';
import type { ResultOf } from '../../contract.js';
import { UsageError } from '../../errors.js';
import { attemptsOf, QUEUE_NAME } from '../../plan/fleet.js';
import { type Runtime, runtimeFrom } from '../../runtime.js';
import { dropCancel, forgetAttempts, readAttempts, requestCancel } from './attempts.js';

export type FleetCancelResult = ResultOf<'fleet cancel'>;

/** How long `fleet cancel` waits for the host running a task to stop it (its command gets 10 s to end). */
export const CANCEL_WAIT_MS = 60_000;

/**
 * Cancels a task. Waiting (or delayed): it leaves the queue. Running: the request goes to the queue,
 * the host running it sees it within a few seconds, stops the command, removes its environment (work
 * saved as patches on that host) and records the task failed as cancelled; this waits for that. A task
 * that finished is left as it is, and said so.
 */
export async function fleetCancel(options: {
  queue: string;
  name: string;
  waitMs?: number;
  runtime?: Partial<Runtime>;
}): Promise<FleetCancelResult> {
  await checkQueue(options.queue);
  const runtime = runtimeFrom(options.runtime);
  const queue = openQueue(QUEUE_NAME, options.queue);
  const { name } = options;
  try {
    const found = await queue.find(name);
    if (!found) {
      throw new UsageError('unknown-task', `the queue has no task ${name}`, {
        hint: 'see the tasks with berth fleet status',
      });
    }
    if (found.state === 'completed' || found.state === 'failed')
      return { name, outcome: `already-${found.state}`, host: null };
    // The request first: a host that takes the task between now and the removal sees it and cancels.
    await requestCancel(queue.store, name, { job: found.stamp, at: new Date(runtime.now()).toISOString() });
    const hostOf = async () =>
      attemptsOf(await readAttempts(queue.store, name), found.stamp).at(-1)?.host ?? null;
    if ((await queue.remove(name)) === 'removed') {
      // Nobody held it (waiting, delayed, or its host died): gone with what berth kept of it, unless a
      // host that went silent under it comes back; the request stays for that host to stop its attempt.
      const host = found.state === 'active' ? await hostOf() : null;
      if (found.state !== 'active') await dropCancel(queue.store, name);
      await forgetAttempts(queue.store, name);
      return { name, outcome: 'removed', host };
    }
    const deadline = runtime.now() + (options.waitMs ?? CANCEL_WAIT_MS);
    for (;;) {
      const now = await queue.find(name);
      if (!now || now.stamp !== found.stamp) return { name, outcome: 'removed', host: await hostOf() };
      if (now.state === 'failed' || now.state === 'completed') {
        const ended = attemptsOf(await readAttempts(queue.store, name), found.stamp).at(-1);
        if (now.state === 'completed')
          return { name, outcome: 'already-completed', host: ended?.host ?? null };
        return {
          name,
          outcome: ended?.end === 'cancelled' ? 'cancelled' : 'already-failed',
          host: ended?.host ?? null,
        };
      }
      // Back in the queue (its host lost it and no other took it yet): it goes now.
      if (now.state !== 'active' && (await queue.remove(name)) === 'removed') {
        const host = await hostOf();
        await forgetAttempts(queue.store, name);
        return { name, outcome: 'removed', host };
      }
      if (runtime.now() >= deadline) return { name, outcome: 'cancelling', host: await hostOf() };
      await sleep(500);
    }
  } finally {
    await queue.close();
  }
}
