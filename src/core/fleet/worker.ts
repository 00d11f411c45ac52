import { cpus, hostname, totalmem } from 'node:os';
import { fenceQueueFromContainers, resolveAddress } from '../../adapters/firewall.js';
import { isGivenBack, openQueue, startWorker } from '../../adapters/queue.js';
import { checkQueue, queueAddress, redactQueueUrl } from '../../adapters/queue-redis.js';
import { loadConfig } from '../../config/load.js';
import { configSchema } from '../../config/schema.js';
import { EnvironmentError, UsageError } from '../../errors.js';
import { memoryBytes } from '../../plan/engine-stack.js';
import { DEFAULT_TIMINGS, defaultSlots, type FleetTimings, HOSTS_KEY, QUEUE_NAME } from '../../plan/fleet.js';
import { type Runtime, runtimeFrom } from '../../runtime.js';
import { hostPaths } from '../../state/paths.js';
import { hostInit } from '../host/init.js';
import { holdWorkerLock } from './host-lock.js';
import { type Cleared, clearLeftovers } from './leftovers.js';
import { type FleetProgress, runFleetTask, type StopReason } from './task.js';

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
  /** A berth.yaml whose agent limits size the default slots. */
  configPath?: string;
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
}

/** How often a worker writes its entry in the fleet's host list. */
const HOST_REFRESH_MS = 5_000;
export const DEFAULT_DRAIN_GRACE_MS = 60_000;

/**
 * This host joins the fleet: it clears what its previous run left, then runs up to `slots` tasks at once
 * until `signal` aborts; then it drains (takes no new task, lets running ones finish within the grace
 * period, then gives them back to the queue) and leaves.
 */
export async function fleetWorker(options: FleetWorkerOptions): Promise<FleetWorkerResult> {
  const runtime = runtimeFrom(options.runtime);
  const progress = options.progress ?? (() => {});
  const timings = { ...DEFAULT_TIMINGS, ...options.timings };
  const name = checkHostName(options.name ?? hostname());
  const slots = options.slots ?? slotsFor(options.configPath);
  if (!Number.isInteger(slots) || slots < 1) {
    throw new UsageError('bad-slots', `--slots must be a whole number of at least 1, not ${slots}`, {
      hint: 'e.g. --slots 2',
    });
  }
  await checkQueue(options.queue);
  const paths = hostPaths(runtime.env);
  return holdWorkerLock(paths, runtime, async () => {
    await hostInit({ install: options.install ?? false, progress, env: runtime.env });
    if (!options.unfenced) await fenceQueue(options.queue);
    const cleared = await clearLeftovers(paths, options.runtime ?? {}, progress);
    const queue = openQueue(QUEUE_NAME, options.queue);
    const running = new Set<string>();
    const stopped = new Map<string, StopReason>();
    const counts = { completed: 0, failed: 0, givenBack: 0 };
    let draining = false;
    const advertise = () =>
      queue
        .setHost(
          HOSTS_KEY,
          name,
          JSON.stringify({
            name,
            slots,
            running: [...running],
            draining,
            seenAt: new Date(runtime.now()).toISOString(),
          }),
        )
        .catch(() => {});

    const worker = startWorker<unknown>(
      QUEUE_NAME,
      options.queue,
      { ...timings, name, concurrency: slots },
      async (held, signal) => {
        running.add(held.id);
        void advertise();
        try {
          const outcome = await runFleetTask(held, signal, {
            name,
            paths,
            runtime: options.runtime ?? {},
            lockMs: timings.lockMs,
            stopReason: (id) => stopped.get(id),
            progress,
          });
          counts.completed += 1;
          return outcome;
        } catch (error) {
          if (isGivenBack(error)) counts.givenBack += 1;
          else counts.failed += 1;
          throw error;
        } finally {
          running.delete(held.id);
          stopped.delete(held.id);
          void advertise();
        }
      },
    );
    worker.onLockLost((ids) => {
      for (const id of ids) {
        stopped.set(id, 'lock-lost');
        worker.cancel(id, 'this host lost its lock on the task');
      }
    });
    worker.onError((error) => progress(`queue: ${redactQueueUrl(error.message)}`));
    progress(`worker ${name} joined ${redactQueueUrl(options.queue)} with ${slots} slot(s)`);
    const refresh = setInterval(advertise, HOST_REFRESH_MS);
    await advertise();

    await untilAborted(options.signal);
    draining = true;
    await advertise();
    progress(`draining: no new task; ${running.size} running may finish`);
    const grace = setTimeout(() => {
      if (running.size > 0) progress(`drain grace over: giving ${running.size} task(s) back to the queue`);
      for (const id of running) stopped.set(id, 'draining');
      worker.cancelAll('the host is draining');
    }, options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS);
    try {
      await worker.close();
    } finally {
      clearTimeout(grace);
      clearInterval(refresh);
      await queue.removeHost(HOSTS_KEY, name).catch(() => {});
      await queue.close();
    }
    return { name, slots, cleared, ...counts };
  });
}

function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function slotsFor(configPath: string | undefined): number {
  const config = configPath ? loadConfig(process.cwd(), configPath) : configSchema.parse({});
  const { cpus: agentCpus, memory } = config.agent.resources;
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

export type { FleetProgress };

/** Agents run untrusted code: no container on this host may reach the queue (it holds every task's command). */
export async function fenceQueue(url: string): Promise<void> {
  const { host, port } = queueAddress(url);
  const fenced = await fenceQueueFromContainers({ ip: await resolveAddress(host), port });
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
