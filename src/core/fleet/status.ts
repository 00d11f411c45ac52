import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { openQueue, type QueueClient, type TaskSnapshot } from '../../adapters/queue.js';
import { checkQueue } from '../../adapters/queue-redis.js';
import type { FleetOutcome, fleetStatusSchema } from '../../contract.js';
import { BerthError, interrupted } from '../../errors.js';
import {
  attemptsOf,
  FLEET_KEYS,
  type FleetTask,
  type HostEntry,
  hostState,
  QUEUE_NAME,
  resultBranch,
} from '../../plan/fleet.js';
import { compareNames } from '../../plan/names.js';
import { type Runtime, runtimeFrom } from '../../runtime.js';
import { readAttemptsOf, type StoredAttempt } from './attempts.js';

export type FleetStatus = z.output<typeof fleetStatusSchema>;
type FleetTaskView = FleetStatus['tasks'][number];
type FleetHostView = FleetStatus['hosts'][number];

/** The queue as a whole: counts, the hosts working on it, and every task with where and how it went. */
export async function fleetStatus(options: {
  queue: string;
  runtime?: Partial<Runtime>;
}): Promise<FleetStatus> {
  await checkQueue(options.queue);
  const queue = openQueue(QUEUE_NAME, options.queue);
  try {
    return await readStatus(queue, runtimeFrom(options.runtime).now());
  } finally {
    await queue.close();
  }
}

/** Wakes a waiter on the next change, or at once when one came while nobody was waiting. */
class ChangeLatch {
  private pending = false;
  private wake: (() => void) | undefined;

  // A waiter that timed out leaves its wake behind, so a change always stays pending too: a spare
  // look at the queue costs little, a missed change costs the whole fallback interval.
  notify(): void {
    this.pending = true;
    this.wake?.();
  }

  /** The next change, or `ms` later; no timer outlives it (a pending one would keep the process up). */
  async nextOrAfter(ms: number): Promise<void> {
    const timer = new AbortController();
    try {
      await Promise.race([this.next(), sleep(ms, undefined, { signal: timer.signal })]);
    } finally {
      timer.abort();
    }
  }

  next(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.wake = resolve));
  }
}

/** How much of a failed task's output its status shows (the host keeps the whole log). */
const FAILED_LOG_LINES = 20;

async function readStatus(queue: QueueClient, now: number): Promise<FleetStatus> {
  const [snapshots, entries] = await Promise.all([
    queue.tasks<FleetTask>(),
    queue.store.all(FLEET_KEYS.hosts),
  ]);
  const attempts = await readAttemptsOf(
    queue.store,
    snapshots.map((snapshot) => snapshot.id),
  );
  const hosts = Object.values(entries)
    .map((text) => hostView(text, now))
    .filter((host): host is FleetHostView & { id: string } => host !== undefined);
  const tasks = await Promise.all(
    snapshots.map(async (snapshot) => {
      const view = taskView(
        snapshot,
        attemptsOf(attempts.get(snapshot.id) ?? [], snapshot.stamp),
        hosts,
        now,
      );
      return view.state === 'failed' ? { ...view, log: await queue.logs(view.name, FAILED_LOG_LINES) } : view;
    }),
  );
  const count = (state: FleetTaskView['state']) => tasks.filter((task) => task.state === state).length;
  return {
    counts: {
      waiting: count('waiting'),
      active: count('active'),
      delayed: count('delayed'),
      completed: count('completed'),
      failed: count('failed'),
      stalled: tasks.filter((task) => task.stalled).length,
    },
    hosts: hosts.map(({ id: _run, ...host }) => host).sort((a, b) => compareNames(a.name, b.name)),
    tasks: tasks.sort((a, b) => compareNames(a.name, b.name)),
  };
}

/**
 * A task as the queue and its attempts' records tell it: the queue says its state; the records say
 * which host ran which attempt, how each ended, and which one produced the outcome.
 */
function taskView(
  snapshot: TaskSnapshot<FleetTask>,
  attempts: StoredAttempt[],
  hosts: Array<FleetHostView & { id: string }>,
  now: number,
): FleetTaskView {
  const last = attempts.at(-1);
  const result =
    snapshot.result && typeof snapshot.result === 'object' ? (snapshot.result as FleetOutcome) : undefined;
  const outcome = result ?? last?.outcome ?? null;
  const running = snapshot.state === 'active';
  // An active task whose host went quiet, or whose current attempt already ended (it lost the lock):
  // BullMQ's stalled check will give it to a host again. The current take may not have a record yet.
  const current = last && last.number === snapshot.attemptsStarted ? last : undefined;
  const holder = running ? (snapshot.worker ?? last?.host) : undefined;
  const host = holder === undefined ? undefined : hosts.find((h) => h.name === holder);
  const stalled =
    running && (!host || host.state === 'silent' || host.state === 'gone' || current?.end !== undefined);
  const started = snapshot.startedAt;
  const history = attempts.map((attempt, index) => ({
    id: attempt.id,
    host: attempt.host,
    env: attempt.env,
    startedAt: attempt.startedAt,
    endedAt: attempt.endedAt ?? null,
    // An attempt that never said how it ended, with a later one after it: its host stopped under it.
    end: attempt.end ?? (index < attempts.length - 1 || !running ? ('unknown' as const) : null),
    step: attempt.step,
    reason: attempt.reason ?? null,
    published: attempt.published?.commit ?? null,
  }));
  return {
    name: snapshot.id,
    repo: snapshot.data?.repo ?? '',
    state: snapshot.state,
    stalled,
    host: holder ?? outcome?.host ?? last?.host ?? null,
    attempts: attempts.length,
    stalls: snapshot.stalls,
    step: last?.step ?? null,
    attempt: last?.id ?? null,
    cancelled: snapshot.state === 'failed' && last?.end === 'cancelled',
    branch: resultBranch({ name: snapshot.id }),
    outcome,
    failedReason: snapshot.failedReason ?? null,
    durationMs: started && (running || snapshot.finishedAt) ? (snapshot.finishedAt ?? now) - started : null,
    history,
  };
}

function hostView(text: string, now: number): (FleetHostView & { id: string }) | undefined {
  try {
    const entry = JSON.parse(text) as HostEntry;
    const state = hostState(entry, now);
    if (state === 'dropped') return undefined;
    return {
      id: entry.id ?? '',
      name: entry.name,
      slots: entry.slots,
      running: entry.running ?? [],
      draining: entry.draining ?? false,
      seenAt: entry.seenAt,
      silent: state === 'silent' || state === 'gone',
      state,
    };
  } catch {
    return undefined;
  }
}

export interface FleetWaitResult {
  counts: FleetStatus['counts'];
  failed: string[];
}

/** Waits until no task is waiting, delayed or active; resolves to the counts and the failed tasks. */
export async function fleetWait(options: {
  queue: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  runtime?: Partial<Runtime>;
}): Promise<FleetWaitResult> {
  await checkQueue(options.queue);
  const runtime = runtimeFrom(options.runtime);
  const queue = openQueue(QUEUE_NAME, options.queue);
  const deadline =
    options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : runtime.now() + options.timeoutMs;
  const changes = new ChangeLatch();
  const stopWatching = await queue
    .watch(() => changes.notify())
    .catch(async (error) => {
      await queue.close();
      throw error;
    });
  try {
    for (;;) {
      const counts = await queue.counts();
      if (counts.waiting + counts.active + counts.delayed === 0) {
        const status = await readStatus(queue, runtime.now());
        return {
          counts: status.counts,
          failed: status.tasks.filter((t) => t.state === 'failed').map((t) => t.name),
        };
      }
      if (options.signal?.aborted) throw interrupted();
      if (runtime.now() >= deadline) {
        throw new BerthError(
          'wait-timeout',
          `${counts.waiting + counts.delayed} task(s) waiting and ${counts.active} running after the timeout`,
          {
            hint: 'see them with berth fleet status; wait again, or with a longer --timeout',
          },
        );
      }
      // Woken by the queue's events; a slow look every few seconds covers events missed while reconnecting.
      await changes.nextOrAfter(3_000);
    }
  } finally {
    await stopWatching();
    await queue.close();
  }
}

/**
 * Calls `show` with the queue's status now and whenever a task moves, until `signal` aborts. A queue
 * that stops answering ends it with an error, unless `onError` is given: then it is told, and the
 * watch starts again a few seconds later (the page keeps watching through a queue restart).
 */
export async function watchFleet(
  options: { queue: string; signal: AbortSignal; runtime?: Partial<Runtime> },
  show: (status: FleetStatus) => void,
  onError?: (error: unknown) => void,
): Promise<void> {
  await checkQueue(options.queue);
  while (!options.signal.aborted) {
    try {
      await watchOnce(options, show);
    } catch (error) {
      if (!onError) throw error;
      onError(error);
      await sleep(5_000, undefined, { signal: options.signal }).catch(() => {});
    }
  }
}

async function watchOnce(
  options: { queue: string; signal: AbortSignal; runtime?: Partial<Runtime> },
  show: (status: FleetStatus) => void,
): Promise<void> {
  const runtime = runtimeFrom(options.runtime);
  const queue = openQueue(QUEUE_NAME, options.queue);
  const changes = new ChangeLatch();
  try {
    const stopWatching = await queue.watch(() => changes.notify());
    const aborted = new Promise<void>((resolve) =>
      options.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    try {
      while (!options.signal.aborted) {
        show(await readStatus(queue, runtime.now()));
        // Events come in bursts: one redraw per burst, and one every few seconds for durations and silent hosts.
        await Promise.race([changes.nextOrAfter(5_000), aborted]);
        await sleep(200);
      }
    } finally {
      await stopWatching();
    }
  } finally {
    await queue.close();
  }
}
