import { createHash } from 'node:crypto';
import { z } from 'zod';
import { EXIT_POLICIES } from './exit.js';
import { AGENT_NAME_PATTERN } from './names.js';

/** The one queue every host of a fleet takes tasks from. */
export const QUEUE_NAME = 'berth-tasks';
/** A hash in the queue's Redis: each worker's host, slots and running tasks, refreshed as it works. */
export const HOSTS_KEY = 'berth:fleet:hosts';

/** A task as it travels through the queue: the tasks file's task, plus the repository every host can reach. */
export const fleetTaskSchema = z.strictObject({
  name: z
    .string()
    .regex(AGENT_NAME_PATTERN, 'lowercase letters, digits and hyphens, starting with a letter, at most 32')
    .describe("the task's id: its agent's name on the host, and its result branch berth/<name>"),
  repo: z
    .string()
    .min(1)
    .describe('a git URL or path every host can reach; the result branch is pushed there'),
  from: z.string().min(1).optional().describe("the ref its branch starts from (default: the remote's HEAD)"),
  command: z.array(z.string()).min(1).describe('the agent command, as an argument list'),
  onExit: z
    .enum(EXIT_POLICIES)
    .default('teardown')
    .describe('what the host does with the environment after publishing'),
  attempts: z
    .number()
    .int()
    .min(1)
    .max(20)
    .default(1)
    .describe('how many times a task whose command fails is run (a host that dies does not count)'),
});
export type FleetTask = z.output<typeof fleetTaskSchema>;

/** The queue's options for a task: its id is its name (a second submit of it is a no-op). */
export function jobOptions(task: FleetTask) {
  return {
    jobId: task.name,
    attempts: task.attempts,
    backoff: { type: 'exponential', delay: 5_000 },
    // Completed and failed tasks stay, for `fleet status` and so that a duplicate submit is recognised.
    removeOnComplete: false,
    removeOnFail: false,
  } as const;
}

export interface FleetTimings {
  /** How long a worker's lock on a task lasts without renewal (renewed every half of it while it runs). */
  lockMs: number;
  /** How often workers look for tasks whose lock ran out (their host died). */
  stalledMs: number;
  /** How many times a task may lose its host before it fails. */
  maxStalled: number;
}

/**
 * Agent tasks run for minutes, not milliseconds: a dead host's tasks run again elsewhere within
 * lockMs + stalledMs (45 s here), and a host that merely pauses for less keeps its tasks.
 */
export const DEFAULT_TIMINGS: FleetTimings = { lockMs: 30_000, stalledMs: 15_000, maxStalled: 3 };

/** How many tasks this host runs at once: what its cores and memory allow with the agents' limits. */
export function defaultSlots(
  host: { cores: number; memoryBytes: number },
  agent: { cpus: number; memoryBytes: number },
) {
  return Math.max(
    1,
    Math.min(Math.floor(host.cores / agent.cpus), Math.floor(host.memoryBytes / agent.memoryBytes)),
  );
}

/** Where a host keeps its clone of a task's repository: one per repository, kept and fetched. */
export function cacheName(repo: string): string {
  const trimmed = repo.replace(/\/+$/, '');
  const base =
    trimmed
      .split(/[/:]/)
      .at(-1)
      ?.replace(/\.git$/, '') || 'repo';
  const hash = createHash('sha256').update(trimmed).digest('hex').slice(0, 10);
  return `${base.replace(/[^A-Za-z0-9._-]/g, '-')}-${hash}`;
}

/** The branch a task's result is published as, on its remote. */
export function resultBranch(task: Pick<FleetTask, 'name'>): string {
  return `berth/${task.name}`;
}

/** A host whose worker has not written for this long is gone (killed, or its machine). */
export const HOST_SILENT_MS = 30_000;

/** The embedded queue's container and volume on a host, by port (a host may run one per port). */
export function queueContainerName(port: number): string {
  return `berth-fleet-queue-${port}`;
}

/** How the embedded queue's Redis runs: a password, every write in an append-only file, nothing evicted. */
export function queueServerCommand(password: string): string[] {
  return [
    'redis-server',
    '--requirepass',
    password,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--dir',
    '/data',
  ];
}

/** The URL workers are given: the password, and the address they reach the queue at. */
export function queueUrl(password: string, host: string, port: number): string {
  const address = host.includes(':') ? `[${host}]` : host;
  return `redis://:${encodeURIComponent(password)}@${address}:${port}`;
}

/**
 * The address to give workers for a queue bound to `bind`: the bound address, or for a wildcard one of
 * the host's own (not a container bridge's: other hosts cannot reach those).
 */
export function advertisedHost(bind: string, addresses: Array<{ iface: string; address: string }>): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  const own = addresses.filter(({ iface }) => !/^(docker\d*|br-|veth)/.test(iface));
  return own[0]?.address ?? '127.0.0.1';
}

/** A task as a tasks file gives it: a command may be a shell line. */
export const fleetTaskFileSchema = fleetTaskSchema.extend({
  command: z
    .union([z.string().min(1), z.array(z.string()).min(1)])
    .describe('the agent command: a shell line (run with sh -c) or an argument list'),
});

/** A repository given as a URL (https://, ssh://, file://, or scp-like user@host:path), not a path. */
export function isRepoUrl(repo: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[\w.-]+@[\w.-]+:/.test(repo);
}
