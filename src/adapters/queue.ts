import {
  type ConnectionOptions,
  type Job,
  Queue,
  QueueEvents,
  UnrecoverableError,
  WaitingError,
  Worker,
} from 'bullmq';
import { Redis } from 'ioredis';
import { queueConnectionOptions } from './queue-redis.js';

/**
 * BullMQ, behind the few operations berth's fleet needs: the queue's locks, stalled-job detection,
 * retries, progress and events are BullMQ's; berth never reads or writes its keys itself.
 */

/** A task a worker holds: BullMQ's job, as the fleet sees it. */
export interface HeldTask<T> {
  id: string;
  data: T;
  /** This is the n-th time a worker took the task (1 the first time). */
  started: number;
  /** Renews this worker's lock; false when the lock is gone (the task was presumed dead and given to another). */
  renewLock: (ms: number) => Promise<boolean>;
  progress: (value: object) => Promise<void>;
  log: (line: string) => Promise<void>;
  /** Puts the task back in the queue without counting an attempt; the handler must then throw what this returns. */
  giveBack: () => Promise<Error>;
}

export interface TaskCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface TaskSnapshot<T> {
  id: string;
  state: 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
  data: T;
  progress: unknown;
  result: unknown;
  failedReason?: string;
  attemptsStarted: number;
  attemptsMade: number;
  stalls: number;
  worker?: string;
  addedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** An active task whose lock is gone: its worker stopped renewing it (died), and it waits to be taken again. */
  lockLost: boolean;
}

export interface QueueClient {
  add: <T>(id: string, data: T, options: object) => Promise<void>;
  /** The state of a task by its id, or undefined when the queue never had it. */
  stateOf: (id: string) => Promise<TaskSnapshot<unknown>['state'] | 'unknown' | undefined>;
  counts: () => Promise<TaskCounts>;
  tasks: <T>() => Promise<TaskSnapshot<T>[]>;
  logs: (id: string, last: number) => Promise<string[]>;
  /** A hash of the queue's Redis that berth keeps beside BullMQ's keys (the fleet's hosts). */
  hosts: (key: string) => Promise<Record<string, string>>;
  setHost: (key: string, name: string, value: string) => Promise<void>;
  removeHost: (key: string, name: string) => Promise<void>;
  /** Calls `onChange` whenever a task moves (added, taken, finished, stalled); resolves to a stop function. */
  watch: (onChange: () => void) => Promise<() => Promise<void>>;
  close: () => Promise<void>;
}

const STATES = ['waiting', 'active', 'delayed', 'completed', 'failed'] as const;

export function openQueue(name: string, url: string): QueueClient {
  const connection = bullConnection(url);
  const queue = new Queue(name, { connection });
  const redis = new Redis(queueConnectionOptions(url));
  redis.on('error', () => {});
  const lockKey = (id: string) => `${queue.opts.prefix ?? 'bull'}:${name}:${id}:lock`;
  return {
    add: async (id, data, options) => {
      await queue.add(id, data, { ...options, jobId: id });
    },
    stateOf: async (id) => {
      const job = await queue.getJob(id);
      if (!job) return undefined;
      const state = await job.getState();
      return state === 'prioritized' || state === 'waiting-children'
        ? 'waiting'
        : (state as TaskSnapshot<unknown>['state']);
    },
    counts: async () => {
      const counts = await queue.getJobCounts(
        'waiting',
        'prioritized',
        'active',
        'delayed',
        'completed',
        'failed',
      );
      return {
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
      };
    },
    tasks: async <T>() => {
      const all: TaskSnapshot<T>[] = [];
      for (const state of STATES) {
        const types = state === 'waiting' ? (['waiting', 'prioritized'] as const) : ([state] as const);
        const jobs = (await queue.getJobs([...types], 0, -1, true)) as Job[];
        for (const job of jobs.filter(Boolean)) {
          const lockLost = state === 'active' && (await redis.exists(lockKey(String(job.id)))) === 0;
          all.push(snapshot<T>(job, state, lockLost));
        }
      }
      return all;
    },
    logs: async (id, last) => (await queue.getJobLogs(id, -last, -1, true)).logs,
    hosts: (key) => redis.hgetall(key),
    setHost: async (key, host, value) => {
      await redis.hset(key, host, value);
    },
    removeHost: async (key, host) => {
      await redis.hdel(key, host);
    },
    watch: async (onChange) => {
      const events = new QueueEvents(name, { connection });
      events.on('error', () => {});
      for (const event of [
        'added',
        'active',
        'completed',
        'failed',
        'stalled',
        'waiting',
        'progress',
      ] as const)
        events.on(event, onChange);
      await events.waitUntilReady();
      return () => events.close();
    },
    close: async () => {
      redis.disconnect();
      await queue.close();
    },
  };
}

function snapshot<T>(job: Job, state: TaskSnapshot<T>['state'], lockLost: boolean): TaskSnapshot<T> {
  return {
    id: String(job.id),
    state,
    data: job.data as T,
    progress: job.progress,
    result: job.returnvalue,
    ...(job.failedReason && { failedReason: job.failedReason }),
    attemptsStarted: job.attemptsStarted ?? 0,
    attemptsMade: job.attemptsMade ?? 0,
    stalls: job.stalledCounter ?? 0,
    ...(job.processedBy && { worker: job.processedBy }),
    addedAt: job.timestamp,
    ...(job.processedOn && { startedAt: job.processedOn }),
    ...(job.finishedOn && { finishedAt: job.finishedOn }),
    lockLost,
  };
}

export interface WorkerTimings {
  lockMs: number;
  stalledMs: number;
  maxStalled: number;
}

export interface QueueWorker {
  /** Takes no new task and resolves when the tasks it holds have ended. */
  close: () => Promise<void>;
  /** Aborts the handlers of every task held (their signal fires with `reason`). */
  cancelAll: (reason: string) => void;
  cancel: (id: string, reason: string) => void;
  /** `onLost` is called with the ids of held tasks whose lock could not be renewed. */
  onLockLost: (onLost: (ids: string[]) => void) => void;
  onError: (onError: (error: Error) => void) => void;
}

/**
 * Joins the queue as a worker named `name` that runs up to `concurrency` tasks at once with `handler`.
 * A handler's result completes the task; its error fails it (retried while attempts remain), unless it
 * is `unrecoverable(…)` (failed at once) or what `giveBack` returned (back to the queue).
 */
export function startWorker<T>(
  queueName: string,
  url: string,
  options: WorkerTimings & { name: string; concurrency: number },
  handler: (task: HeldTask<T>, signal: AbortSignal) => Promise<unknown>,
): QueueWorker {
  const worker = new Worker(
    queueName,
    async (job: Job, token?: string, signal?: AbortSignal) => {
      const held: HeldTask<T> = {
        id: String(job.id),
        data: job.data as T,
        started: job.attemptsStarted ?? 1,
        renewLock: async (ms) =>
          token !== undefined && (await job.extendLock(token, ms).catch(() => 0)) === 1,
        progress: (value) => job.updateProgress(value),
        log: async (line) => {
          await job.log(line);
        },
        giveBack: async () => {
          await job.moveToWait(token);
          return new WaitingError();
        },
      };
      return handler(held, signal ?? new AbortController().signal);
    },
    {
      connection: bullConnection(url),
      name: options.name,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: options.stalledMs,
      maxStalledCount: options.maxStalled,
    },
  );
  return {
    close: () => worker.close(),
    cancelAll: (reason) => worker.cancelAllJobs(reason),
    cancel: (id, reason) => {
      worker.cancelJob(id, reason);
    },
    onLockLost: (onLost) => {
      worker.on('lockRenewalFailed', (ids: string[]) => onLost(ids.map(String)));
    },
    onError: (onError) => {
      worker.on('error', onError);
    },
  };
}

/** An error that fails a task at once, whatever attempts remain (its repository cannot be fetched). */
export function unrecoverable(message: string): Error {
  return new UnrecoverableError(message);
}

// BullMQ declares its own shape of ioredis' options; they are ioredis' options.
function bullConnection(url: string): ConnectionOptions {
  return queueConnectionOptions(url) as ConnectionOptions;
}

/** The error `giveBack` returned: the task went back to the queue, it did not fail. */
export function isGivenBack(error: unknown): boolean {
  return error instanceof WaitingError;
}
