import {
  type ConnectionOptions,
  DelayedError,
  type Job,
  Queue,
  QueueEvents,
  UnrecoverableError,
  WaitingError,
  Worker,
} from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { EnvironmentError, isBerthError, messageOf } from '../errors.js';
import {
  queueAddress,
  queueClientOptions,
  queueConnectionOptions,
  queueEventsOptions,
} from './queue-redis.js';

/**
 * BullMQ, behind the few operations berth's fleet needs: the queue's locks, stalled-job detection,
 * retries, progress and events are BullMQ's, used through its public API only. berth's own records
 * (hosts, attempts, cancel requests) are keys of its own in the same Redis, beside BullMQ's.
 */

/** A task a worker holds: BullMQ's job, as one attempt of the fleet sees it. */
export interface HeldTask<T> {
  id: string;
  data: T;
  /** This is the n-th time a worker took the task (BullMQ's attemptsStarted, 1 the first time). */
  started: number;
  /** The submission this is (the job's creation time): a task submitted again starts over. */
  stamp: number;
  /**
   * Renews this attempt's lock: 'lost' when the lock is gone (the task was presumed dead and given to
   * another), 'unknown' when the queue did not answer.
   */
  renewLock: (ms: number) => Promise<'held' | 'lost' | 'unknown'>;
  progress: (value: object) => Promise<void>;
  log: (line: string) => Promise<void>;
  /** Puts the task back in the queue without counting an attempt; the handler must then throw what this returns. */
  giveBack: () => Promise<Error>;
  /** The same, but the task waits `ms` before any host may take it again. */
  giveBackAfter: (ms: number) => Promise<Error>;
}

export interface TaskCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export type TaskState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';

export interface TaskSnapshot<T> {
  id: string;
  /** The submission (the job's creation time). */
  stamp: number;
  state: TaskState;
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
}

/** berth's own keys in the queue's Redis (never BullMQ's). */
export interface FleetStore {
  all: (key: string) => Promise<Record<string, string>>;
  /** Several hashes in one round trip. */
  allOf: (keys: string[]) => Promise<Array<Record<string, string>>>;
  set: (key: string, field: string, value: string) => Promise<void>;
  remove: (key: string, field: string) => Promise<void>;
  /** Removes a field only while it still holds `value` (another writer's newer value stays). */
  removeIf: (key: string, field: string, value: string) => Promise<boolean>;
  drop: (key: string) => Promise<void>;
  /** Takes a key for `ttlMs` if nobody holds it; resolves to the holder's value when somebody does. */
  claim: (key: string, value: string, ttlMs: number) => Promise<string | undefined>;
  /** Takes a key whoever holds it. */
  seize: (key: string, value: string, ttlMs: number) => Promise<void>;
  /** Extends a key held with `value`; false when it is no longer ours. */
  renew: (key: string, value: string, ttlMs: number) => Promise<boolean>;
  /** Lets go of a key held with `value`. */
  release: (key: string, value: string) => Promise<void>;
  holder: (key: string) => Promise<string | undefined>;
  close: () => void;
}

export interface QueueClient {
  add: <T>(id: string, data: T, options: object) => Promise<void>;
  /** A task's state and submission, or undefined when the queue does not have it. */
  find: (id: string) => Promise<{ state: TaskState; stamp: number } | undefined>;
  /** Removes a task no host holds: 'active' when a host holds it, 'missing' when the queue has none. */
  remove: (id: string) => Promise<'removed' | 'active' | 'missing'>;
  counts: () => Promise<TaskCounts>;
  tasks: <T>() => Promise<TaskSnapshot<T>[]>;
  logs: (id: string, last: number) => Promise<string[]>;
  store: FleetStore;
  /** Calls `onChange` whenever a task moves (added, taken, finished, stalled); resolves to a stop function. */
  watch: (onChange: (event: { event: string; id: string }) => void) => Promise<() => Promise<void>>;
  close: () => Promise<void>;
}

const STATES = ['waiting', 'active', 'delayed', 'completed', 'failed'] as const;

function bullState(state: string): TaskState | undefined {
  if (state === 'prioritized' || state === 'waiting-children' || state === 'paused') return 'waiting';
  return (STATES as readonly string[]).includes(state) ? (state as TaskState) : undefined;
}

// Compare-and-act on berth's own keys, each one atomic in Redis.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const REMOVE_IF = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`;

/**
 * berth's keys in the queue's Redis. `lasting`: the connection waits out a queue restart (a worker's);
 * else each command is answered within the reply timeout or fails (a command's one look).
 */
export function openStore(url: string, lasting = false): FleetStore {
  const redis = new Redis(lasting ? queueConnectionOptions(url) : queueClientOptions(url));
  redis.on('error', () => {});
  return {
    all: (key) => redis.hgetall(key),
    allOf: async (keys) => {
      if (keys.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.hgetall(key);
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([error, value]) => {
        if (error) throw error;
        return value as Record<string, string>;
      });
    },
    set: async (key, field, value) => {
      await redis.hset(key, field, value);
    },
    remove: async (key, field) => {
      await redis.hdel(key, field);
    },
    removeIf: async (key, field, value) => (await redis.eval(REMOVE_IF, 1, key, field, value)) === 1,
    drop: async (key) => {
      await redis.del(key);
    },
    claim: async (key, value, ttlMs) => {
      if ((await redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK') return undefined;
      return (await redis.get(key)) ?? undefined;
    },
    seize: async (key, value, ttlMs) => {
      await redis.set(key, value, 'PX', ttlMs);
    },
    renew: async (key, value, ttlMs) => (await redis.eval(RENEW, 1, key, value, ttlMs)) === 1,
    release: async (key, value) => {
      await redis.eval(RELEASE, 1, key, value);
    },
    holder: async (key) => (await redis.get(key)) ?? undefined,
    close: () => redis.disconnect(),
  };
}

/**
 * A command's look at the queue: every answer within the reply timeout, and a queue that stops
 * answering is one line (not a stack).
 */
export function openQueue(name: string, url: string): QueueClient {
  const client = openQueueClient(name, url);
  const { host, port } = queueAddress(url);
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (error) {
        if (isBerthError(error)) throw error;
        throw new EnvironmentError(
          'queue-unreachable',
          `the queue at ${host}:${port} stopped answering (${messageOf(error).split('\n')[0]})`,
          { hint: 'check that the queue runs (berth fleet queue on its host), then run this again' },
        );
      }
    };
  const store = client.store;
  return {
    add: guard(client.add),
    find: guard(client.find),
    remove: guard(client.remove),
    counts: guard(client.counts),
    tasks: guard(client.tasks) as QueueClient['tasks'],
    logs: guard(client.logs),
    store: {
      ...store,
      all: guard(store.all),
      allOf: guard(store.allOf),
      set: guard(store.set),
      remove: guard(store.remove),
      removeIf: guard(store.removeIf),
      drop: guard(store.drop),
      claim: guard(store.claim),
      seize: guard(store.seize),
      renew: guard(store.renew),
      release: guard(store.release),
      holder: guard(store.holder),
    },
    watch: guard(client.watch),
    close: client.close,
  };
}

function openQueueClient(name: string, url: string): QueueClient {
  const queue = new Queue(name, { connection: bullConnection(queueClientOptions(url)) });
  queue.on('error', () => {});
  const store = openStore(url);
  return {
    add: async (id, data, options) => {
      await queue.add(id, data, { ...options, jobId: id });
    },
    find: async (id) => {
      const job = await queue.getJob(id);
      if (!job) return undefined;
      const state = bullState(await job.getState());
      return state && { state, stamp: job.timestamp };
    },
    remove: async (id) => {
      if (!(await queue.getJob(id))) return 'missing';
      return (await queue.remove(id)) === 1 ? 'removed' : 'active';
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
        for (const job of jobs.filter(Boolean)) all.push(snapshot<T>(job, state));
      }
      return all;
    },
    logs: async (id, last) => (await queue.getJobLogs(id, -last, -1, true)).logs,
    store,
    watch: async (onChange) => {
      const events = new QueueEvents(name, { connection: bullConnection(queueEventsOptions(url)) });
      events.on('error', () => {});
      for (const event of [
        'added',
        'active',
        'completed',
        'failed',
        'stalled',
        'waiting',
        'delayed',
        'removed',
        'progress',
      ] as const)
        events.on(event, (args: { jobId: string }) => onChange({ event, id: String(args.jobId) }));
      await events.waitUntilReady();
      return () => events.close();
    },
    close: async () => {
      store.close();
      await queue.close();
    },
  };
}

function snapshot<T>(job: Job, state: TaskState): TaskSnapshot<T> {
  return {
    id: String(job.id),
    stamp: job.timestamp,
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
  };
}

export interface WorkerTimings {
  lockMs: number;
  stalledMs: number;
  maxStalled: number;
}

/** A task the queue took the end of, as the worker's events report it. */
export interface EndedTask {
  id: string;
  started: number;
  stamp: number;
  /** The failure's message (a failed task). */
  reason?: string;
}

export interface QueueWorker {
  /** Takes no new task and resolves when the tasks it holds have ended. */
  close: () => Promise<void>;
  /** `onLost` is called with the ids of held tasks whose lock could not be renewed. */
  onLockLost: (onLost: (ids: string[]) => void) => void;
  /** The queue took an attempt's outcome (completed) or failure (failed: retried while attempts remain). */
  onEnded: (onEnded: (end: 'completed' | 'failed', task: EndedTask) => void) => void;
  onError: (onError: (error: Error) => void) => void;
}

/**
 * Joins the queue as a worker named `name` that runs up to `concurrency` tasks at once with `handler`.
 * A handler's result completes the task; its error fails it (retried while attempts remain), unless it
 * is `unrecoverable(…)` (failed at once) or what `giveBack` returned (back to the queue). The queue
 * accepts either only from the holder of the task's lock.
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
        stamp: job.timestamp,
        renewLock: async (ms) => {
          if (token === undefined) return 'lost';
          try {
            return (await job.extendLock(token, ms)) === 1 ? 'held' : 'lost';
          } catch {
            return 'unknown';
          }
        },
        progress: (value) => job.updateProgress(value),
        log: async (line) => {
          await job.log(line);
        },
        giveBack: async () => {
          await job.moveToWait(token);
          return new WaitingError();
        },
        giveBackAfter: async (ms) => {
          await job.moveToDelayed(Date.now() + ms, token);
          return new DelayedError();
        },
      };
      return handler(held, signal ?? new AbortController().signal);
    },
    {
      connection: bullConnection(queueConnectionOptions(url)),
      name: options.name,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: options.stalledMs,
      maxStalledCount: options.maxStalled,
    },
  );
  const ended = (job: Job | undefined): EndedTask | undefined =>
    job && { id: String(job.id), started: job.attemptsStarted ?? 1, stamp: job.timestamp };
  return {
    close: () => worker.close(),
    onLockLost: (onLost) => {
      worker.on('lockRenewalFailed', (ids: string[]) => onLost(ids.map(String)));
    },
    onEnded: (onEnded) => {
      worker.on('completed', (job: Job) => {
        const task = ended(job);
        if (task) onEnded('completed', task);
      });
      worker.on('failed', (job: Job | undefined, error: Error) => {
        const task = ended(job);
        if (task) onEnded('failed', { ...task, reason: error.message });
      });
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
function bullConnection(options: RedisOptions): ConnectionOptions {
  return options as ConnectionOptions;
}

export function isUnrecoverable(error: unknown): boolean {
  return error instanceof UnrecoverableError;
}

/** The error `giveBack` or `giveBackAfter` returned: the task went back to the queue, it did not fail. */
export function isGivenBack(error: unknown): boolean {
  return error instanceof WaitingError || error instanceof DelayedError;
}
