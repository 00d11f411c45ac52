import { cpus, hostname, totalmem } from 'node:os';
import { createExclusive, readText } from '../../adapters/files.js';
import { resolveAddress } from '../../adapters/firewall.js';
import { openStore, startWorker } from '../../adapters/queue.js';
import { checkQueue, queueAddress, redactQueueUrl } from '../../adapters/queue-redis.js';
import { loadConfig } from '../../config/load.js';
import { configSchema } from '../../config/schema.js';
import { EnvironmentError, messageOf, UsageError } from '../../errors.js';
import { memoryBytes } from '../../plan/engine-stack.js';
import {
  DEFAULT_TIMINGS,
  DEFER_MS,
  defaultSlots,
  FLEET_KEYS,
  type FleetTimings,
  HOST_REFRESH_MS,
  type HostEntry,
  hostHooks,
  hostNameTtlMs,
  hostState,
  QUEUE_NAME,
} from '../../plan/fleet.js';
import { type Runtime, runtimeFrom } from '../../runtime.js';
import { type HostPaths, hostPaths } from '../../state/paths.js';
import { hostInit } from '../host/init.js';
import { cancelRequests } from './attempts.js';
import { fence, unfence, workerOwner } from './fence.js';
import { holdWorkerLock } from './host-lock.js';
import { type Cleared, clearLeftovers } from './leftovers.js';
import { type LiveAttempt, newAttempt, runFleetTask } from './task.js';

export interface FleetWorkerOptions {
  /** The queue's URL (with its password). */
  queue: string;
  /** Tasks at once; default: what this host's cores and memory allow with the agents' limits. */
  slots?: number;
  /** This host's name in the fleet; default: its hostname. */
  name?: string;
  timings?: Partial<FleetTimings>;
  /** After a drain starts, how long running tasks may go on before they are given back. */
  drainGraceMs?: number;
  /** Install the engine and Compose if missing (a fresh host). */
  install?: boolean;
  /**
   * The host owner's berth.yaml: every task on this host runs with it (instead of its repository's
   * default branch's), and its agent limits size the default slots.
   */
  configPath?: string;
  /** Let tasks' configs run commands on this host (`on: host` hooks, post-teardown). Off by default. */
  allowHostHooks?: boolean;
  /** Let containers on this host reach the queue (no iptables rules): only where something else fences it. */
  unfenced?: boolean;
  /** Aborted (SIGTERM): drain and stop. */
  signal?: AbortSignal;
  progress?: (message: string) => void;
  runtime?: Partial<Runtime>;
}

export interface FleetWorkerResult {
  name: string;
  slots: number;
  cleared: Cleared[];
  completed: number;
  failed: number;
  givenBack: number;
  lost: number;
  cancelled: number;
}

export const DEFAULT_DRAIN_GRACE_MS = 60_000;
/** An attempt whose handler returned stays known this long: BullMQ is still ending its job. */
const SETTLE_MS = 3_000;

/**
 * This host joins the fleet: it clears what its previous run left, then runs up to `slots` tasks at once
 * until `signal` aborts; then it drains (takes no new task, lets running ones finish within the grace
 * period, then gives them back to the queue) and leaves, removing its fence rules and its entry.
 */
export async function fleetWorker(options: FleetWorkerOptions): Promise<FleetWorkerResult> {
  const runtime = runtimeFrom(options.runtime);
  const progress = options.progress ?? (() => {});
  const timings = { ...DEFAULT_TIMINGS, ...options.timings };
  const name = checkHostName(options.name ?? hostname());
  // The file's hooks and resources, checked apart from any repository: nothing it imports is read here.
  const config = options.configPath
    ? loadConfig(process.cwd(), options.configPath, { imports: false })
    : undefined;
  const onHost = config ? hostHooks(config) : [];
  if (onHost.length > 0 && !options.allowHostHooks) {
    throw new UsageError(
      'host-hooks-refused',
      `${options.configPath} runs commands on the host (${onHost.join(', ')}), and host hooks are off`,
      { hint: 'pass --allow-host-hooks to run them on this host, or run them in the agent container' },
    );
  }
  const slots = options.slots ?? slotsFor(config);
  if (!Number.isInteger(slots) || slots < 1) {
    throw new UsageError('bad-slots', `--slots must be a whole number of at least 1, not ${slots}`, {
      hint: 'e.g. --slots 2',
    });
  }
  await checkQueue(options.queue);
  const paths = hostPaths(runtime.env);
  const store = openStore(options.queue, true);
  const run = runtime.randomBytes(6).toString('hex');
  const host = readText(paths.fleetHostId)?.trim() || runtime.randomBytes(8).toString('hex');
  const claim = `${host}/${run}`;
  const nameKey = FLEET_KEYS.hostName(name);
  const ttl = hostNameTtlMs(timings);
  let keepName: NodeJS.Timeout | undefined;
  try {
    // The name first: a duplicate is refused before anything is made on this host.
    const holder = await claimName(store, nameKey, claim, ttl, name);
    // Held through the start too: host init may build images for minutes, longer than the claim lives.
    keepName = setInterval(
      () => void store.renew(nameKey, claim, ttl).catch(() => {}),
      Math.max(1000, Math.floor(ttl / 3)),
    );
    keepName.unref();
    return await holdWorkerLock(paths, runtime, async () => {
      // One worker per berth home: the earlier holder of this host's name is a run that is gone.
      if (holder) await store.seize(nameKey, claim, ttl);
      createExclusive(paths.fleetHostId, `${host}\n`);
      const owner = workerOwner(runtime.self());
      let fenced = false;
      try {
        await hostInit({ install: options.install ?? false, progress, env: runtime.env });
        if (!options.unfenced) {
          fenced = true;
          await fenceQueue(options.queue, owner);
        }
        const cleared = await clearLeftovers(paths, options.runtime ?? {}, progress);
        return await work({
          options,
          runtime,
          paths,
          store,
          name,
          run,
          slots,
          timings,
          progress,
          nameKey,
          claim,
          cleared,
        });
      } finally {
        if (fenced) await unfence(owner, runtime).catch(() => {});
      }
    });
  } finally {
    clearInterval(keepName);
    await store.release(nameKey, claim).catch(() => {});
    store.close();
  }
}

async function work(w: {
  options: FleetWorkerOptions;
  runtime: Runtime;
  paths: HostPaths;
  store: ReturnType<typeof openStore>;
  name: string;
  run: string;
  slots: number;
  timings: FleetTimings;
  progress: (message: string) => void;
  nameKey: string;
  claim: string;
  cleared: Cleared[];
}): Promise<FleetWorkerResult> {
  const { options, runtime, store, name, timings, progress } = w;
  /** Every attempt this host holds, by attempt (never by task alone). */
  const live = new Map<string, LiveAttempt & { settled?: boolean }>();
  const counts = { completed: 0, failed: 0, givenBack: 0, lost: 0, cancelled: 0 };
  let draining = false;
  const entry = (): HostEntry => ({
    name,
    id: w.run,
    slots: w.slots,
    running: [...new Set([...live.values()].filter((a) => !a.settled).map((a) => a.task))],
    draining,
    seenAt: new Date(runtime.now()).toISOString(),
    lockMs: timings.lockMs,
    stalledMs: timings.stalledMs,
  });
  const advertise = () => store.set(FLEET_KEYS.hosts, name, JSON.stringify(entry())).catch(() => {});

  const worker = startWorker<unknown>(
    QUEUE_NAME,
    options.queue,
    { ...timings, name, concurrency: w.slots },
    async (held, queueSignal) => {
      // BullMQ gave the task out again while an earlier attempt of it still stops here: that attempt
      // lost the task. This one waits in the queue until it has stopped (never two at once on a host).
      const earlier = [...live.values()].filter((a) => a.task === held.id);
      if (earlier.length > 0) {
        for (const attempt of earlier) attempt.stop('lock-lost');
        progress(
          `${held.id}#${held.started}: ${earlier.map((a) => a.id).join(', ')} still stops here: back to the queue for ${DEFER_MS / 1000} s`,
        );
        throw await held.giveBackAfter(DEFER_MS);
      }
      const attempt = Object.assign(newAttempt(held, name, store, runtime.now, queueSignal), {
        settled: false,
      });
      live.set(attempt.key, attempt);
      void advertise();
      // Cancelled before any host took it (or between a look and its removal): it stops before it starts.
      const requested = (await cancelRequests(store).catch(() => new Map())).get(held.id);
      if (requested?.job === held.stamp) attempt.stop('cancelled');
      // The lock is renewed by BullMQ; this renewal too, so a loss is seen within a third of the lock.
      const renewal = setInterval(async () => {
        if ((await held.renewLock(timings.lockMs)) === 'lost') attempt.stop('lock-lost');
      }, timings.lockMs / 3);
      try {
        return await runFleetTask(held, attempt, {
          name,
          paths: w.paths,
          runtime: options.runtime ?? {},
          lockMs: timings.lockMs,
          store,
          workerConfig: options.configPath,
          allowHostHooks: options.allowHostHooks ?? false,
          progress,
        });
      } catch (error) {
        if (attempt.record.end === 'given-back' || attempt.record.end === 'host-failure')
          counts.givenBack += 1;
        if (attempt.record.end === 'lost') counts.lost += 1;
        if (attempt.record.end === 'cancelled') counts.cancelled += 1;
        throw error;
      } finally {
        clearInterval(renewal);
        attempt.settled = true;
        setTimeout(() => live.delete(attempt.key), SETTLE_MS).unref();
        void advertise();
      }
    },
  );
  // The queue took an attempt's outcome or failure: that is what its record and this host's counts say.
  worker.onEnded((end, task) => {
    const attempt = [...live.values()].find(
      (a) => a.task === task.id && a.stamp === task.stamp && a.number === task.started,
    );
    // A cancelled attempt's failure is its cancel: its record says so already.
    if (attempt?.record.end === 'cancelled') return;
    counts[end] += 1;
    void attempt?.write({
      end,
      endedAt: new Date(runtime.now()).toISOString(),
      ...(task.reason && { reason: task.reason }),
    });
  });
  worker.onLockLost((ids) => {
    for (const attempt of live.values())
      if (ids.includes(attempt.task) && !attempt.settled) attempt.stop('lock-lost');
  });
  worker.onError((error) => progress(`queue: ${redactQueueUrl(messageOf(error))}`));
  progress(`worker ${name} joined ${redactQueueUrl(options.queue)} with ${w.slots} slot(s)`);

  /** Every few seconds: the host's entry and name renewed, cancel requests looked at, dead hosts dropped. */
  const refresh = async () => {
    await advertise();
    if (!(await store.renew(w.nameKey, w.claim, hostNameTtlMs(timings)).catch(() => true)))
      progress(`warning: the name ${name} was taken by another worker while this one was silent`);
    const cancels = await cancelRequests(store).catch(() => new Map());
    for (const attempt of live.values()) {
      const request = cancels.get(attempt.task);
      if (request?.job === attempt.stamp && !attempt.settled) attempt.stop('cancelled');
    }
    const hosts = await store.all(FLEET_KEYS.hosts).catch(() => ({}));
    for (const [host, text] of Object.entries(hosts)) {
      try {
        if (hostState(JSON.parse(text) as HostEntry, runtime.now()) === 'dropped')
          await store.removeIf(FLEET_KEYS.hosts, host, text);
      } catch {
        // Not an entry berth wrote: left alone.
      }
    }
  };
  const refresher = setInterval(() => void refresh(), HOST_REFRESH_MS);
  await refresh();

  await untilAborted(options.signal);
  draining = true;
  await advertise();
  const held = [...live.values()].filter((a) => !a.settled);
  progress(`draining: no new task; ${held.length} running may finish`);
  const grace = setTimeout(() => {
    const still = [...live.values()].filter((a) => !a.settled);
    if (still.length > 0) progress(`drain grace over: giving ${still.length} task(s) back to the queue`);
    for (const attempt of still) attempt.stop('draining');
  }, options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS);
  try {
    await worker.close();
  } finally {
    clearTimeout(grace);
    clearInterval(refresher);
    await store.remove(FLEET_KEYS.hosts, name).catch(() => {});
  }
  return { name, slots: w.slots, cleared: w.cleared, ...counts };
}

/**
 * A name is one live worker's: taken while its holder writes, given back when it leaves, free again
 * once it is gone. A worker restarted on the same host (same berth home) may take its name back at
 * once: resolves to the earlier holder's claim then (the caller takes it over once it holds the host).
 */
async function claimName(
  store: ReturnType<typeof openStore>,
  key: string,
  claim: string,
  ttlMs: number,
  name: string,
): Promise<string | undefined> {
  const holder = await store.claim(key, claim, ttlMs);
  if (holder === undefined || holder.split('/')[0] === claim.split('/')[0]) return holder;
  throw new UsageError('host-name-taken', `a worker named ${name} is already in the fleet`, {
    hint: `give this one another --name (a name is free again ${Math.round(ttlMs / 1000)} s after its worker is gone)`,
  });
}

function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function slotsFor(config: ReturnType<typeof loadConfig> | undefined): number {
  const { cpus: agentCpus, memory } = (config ?? configSchema.parse({})).agent.resources;
  return defaultSlots(
    { cores: cpus().length, memoryBytes: totalmem() },
    { cpus: agentCpus, memoryBytes: memoryBytes(memory) },
  );
}

function checkHostName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new UsageError('bad-host-name', `"${name}" is not a host name berth can use in the fleet`, {
      hint: 'use letters, digits, dots, hyphens and underscores, e.g. --name agents-7',
    });
  }
  return name;
}

/** Agents run untrusted code: no container on this host may reach the queue (it holds every task's command). */
export async function fenceQueue(url: string, owner: string): Promise<void> {
  const { host, port } = queueAddress(url);
  const fenced = await fence({ ip: await resolveAddress(host), port }, owner);
  if (!fenced.ok) {
    throw new EnvironmentError(
      'queue-not-fenced',
      `cannot keep this host's containers from the queue: ${fenced.reason}`,
      {
        hint: 'run the worker as root on a host with iptables; or, if another firewall keeps agents from the queue, pass --unfenced',
      },
    );
  }
}
