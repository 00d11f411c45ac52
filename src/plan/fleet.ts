import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { BerthConfig } from '../config/schema.js';
import { parseDuration, TOO_LONG, withinLongest } from './duration.js';
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
  timeout: z
    .union([
      z.number().int().positive(),
      z.string().regex(/^[1-9]\d*[smhd]$/, 'expected a duration such as "90s", "30m" or "2h"'),
    ])
    .refine(withinLongest, TOO_LONG)
    .optional()
    .describe(
      'how long the command may run: past it, it is stopped and the attempt fails (default: no limit)',
    ),
});
export type FleetTask = z.output<typeof fleetTaskSchema>;

/** The task's time limit in milliseconds, or undefined for none. */
export function taskTimeoutMs(task: Pick<FleetTask, 'timeout'>): number | undefined {
  return task.timeout === undefined ? undefined : parseDuration(task.timeout) * 1000;
}

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

/**
 * Every queue client gives up connecting after this long, and waiting for any reply after this long:
 * an address that takes the connection and never answers is an error, not a wait.
 */
export const QUEUE_CONNECT_TIMEOUT_MS = 5_000;
export const QUEUE_REPLY_TIMEOUT_MS = 10_000;

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

/** Keys berth keeps in the queue's Redis beside BullMQ's own (which berth never reads or writes). */
export const FLEET_KEYS = {
  /** A hash: each worker's host entry (slots, running tasks, when it last wrote). */
  hosts: HOSTS_KEY,
  /** A hash per task: one record per attempt, written only by the host running that attempt. */
  attempts: (task: string) => `berth:fleet:attempts:${task}`,
  /** A hash: the tasks someone asked to cancel (task id: the submission it names, when). */
  cancels: 'berth:fleet:cancels',
  /** A string per host name, held by the live worker of that name (it expires when the worker dies). */
  hostName: (name: string) => `berth:fleet:host-name:${name}`,
} as const;

/** How a host's attempt at a task ended. */
export const ATTEMPT_ENDS = [
  'completed', // the queue took its outcome
  'failed', // the queue took its failure (retried while attempts remain)
  'lost', // the host lost its lock: the queue gives the task to a host again
  'given-back', // the host drained: back to the queue, not counted
  'host-failure', // the host could not give it an environment: back to the queue after a pause
  'cancelled', // someone cancelled it: stopped, its work saved as patches on the host
] as const;
export type AttemptEnd = (typeof ATTEMPT_ENDS)[number];

/** The steps of an attempt on a host, as `fleet status` shows them. */
export type FleetStep =
  | 'fetch'
  | 'provision'
  | 'run'
  | 'publish'
  | 'teardown'
  | 'done'
  | 'stopping'
  | 'given-back'
  | 'lost';

/**
 * One attempt at a task: BullMQ's take of the job (its lock token, the n-th take) as berth keeps it.
 * Each attempt has its own id, environment (agent) name and record; only its host writes the record.
 */
export interface AttemptRecord {
  /** `<task>#<n>`: n is BullMQ's attemptsStarted when the host took the task. */
  id: string;
  number: number;
  /** The submission it belongs to (the job's timestamp): a task submitted again with --replace starts over. */
  job: number;
  host: string;
  /** Its agent's name on the host (and its local branch berth/<env>). */
  env: string;
  startedAt: string;
  step: FleetStep;
  detail?: string;
  endedAt?: string;
  end?: AttemptEnd;
  reason?: string;
  /** What it pushed to the remote (set the moment the push succeeded). */
  published?: { commit: string; base: string };
  /** Where the berth.yaml it ran with came from. */
  config?: string;
}

export function attemptId(task: string, number: number): string {
  return `${task}#${number}`;
}

/**
 * The agent name of an attempt: `<task>-<n>`, within the 32 characters of an agent name (a long task
 * name is cut and given a hash of the whole, so two tasks never share one).
 */
export function attemptEnvName(task: string, number: number): string {
  const plain = `${task}-${number}`;
  if (plain.length <= 32) return plain;
  const hash = createHash('sha256').update(task).digest('hex').slice(0, 6);
  const suffix = `-${hash}-${number}`;
  return `${task.slice(0, 32 - suffix.length)}${suffix}`;
}

/** The attempts of one submission of a task, in the order they were taken. */
export function attemptsOf(records: AttemptRecord[], job: number): AttemptRecord[] {
  return records.filter((record) => record.job === job).sort((a, b) => a.number - b.number);
}

/**
 * An earlier attempt that published its branch but never saw the queue take its outcome (its host lost
 * the lock, or died, in between): the task's outcome is that attempt's, if the remote still has it.
 */
export function publishedEarlier(records: AttemptRecord[], job: number, number: number) {
  return attemptsOf(records, job)
    .filter((r) => r.number < number && r.published && (r.end === undefined || r.end === 'lost'))
    .at(-1);
}

/** How many times hosts could not give the task an environment (each sends it back after a pause). */
export function hostFailures(records: AttemptRecord[], job: number): number {
  return attemptsOf(records, job).filter((record) => record.end === 'host-failure').length;
}

/** A task is sent back this many times for failures of hosts before it fails with the last reason. */
export const HOST_FAILURE_RETRIES = 3;
/** ...each time after this pause, so that the host (or another) is in a better state. */
export const HOST_FAILURE_DELAY_MS = 10_000;
/** A host that takes a task whose earlier attempt it is still stopping hands it back for this long. */
export const DEFER_MS = 3_000;

/**
 * What failed before the command started: the task (its input, its repository, its config, its hooks:
 * it fails, counted as an attempt when hooks fail) or the host (the engine, ports, disk: another try,
 * not counted).
 */
export function failureKind(error: { code?: string; exitCode?: number }): 'task' | 'host' {
  if (error.code === 'no-free-port' || error.code === 'no-free-subnet') return 'host';
  if (error.exitCode === 2) return 'task';
  if (error.code === 'hook-failed' || error.code === 'hook-timeout' || error.code === 'repo-unavailable')
    return 'task';
  return 'host';
}

/** Where a config runs commands on the host: hooks with `on: host`, and post-teardown (always the host's). */
export function hostHooks(config: Pick<BerthConfig, 'hooks'>): string[] {
  const found: string[] = [];
  for (const [hook, commands] of Object.entries(config.hooks)) {
    commands.forEach((command, index) => {
      const on = typeof command === 'string' ? (hook === 'post-teardown' ? 'host' : 'agent') : command.on;
      if (on === 'host') found.push(`hooks.${hook}[${index}]`);
    });
  }
  return found;
}

/**
 * Where a config read from the repository (not the worker's own) reaches into the host: its host hooks,
 * and every secret, which the worker resolves from its own environment, files or commands. A repository's
 * writers may not make a worker run a command or hand over its files and variables.
 */
export function hostReach(config: Pick<BerthConfig, 'hooks' | 'secrets'>): string[] {
  return [...hostHooks(config), ...Object.keys(config.secrets).map((name) => `secrets.${name}`)];
}

/** A worker's entry in the host list, as it writes it. */
export interface HostEntry {
  name: string;
  /** This run of the worker (a new one each start). */
  id: string;
  slots: number;
  running: string[];
  draining: boolean;
  seenAt: string;
  /** Its lock duration and stalled interval: after both, its tasks are surely back in the queue. */
  lockMs: number;
  stalledMs: number;
}

export type HostState = 'working' | 'draining' | 'silent' | 'gone' | 'dropped';

/** How often a worker writes its entry. */
export const HOST_REFRESH_MS = 5_000;

/**
 * A host by the age of its entry: working (or draining) while it writes; silent after three missed
 * writes (paused, or dying); gone once its locks and a stalled check have passed too (its tasks went
 * back to the queue); dropped from the list when it has been gone as long again.
 */
export function hostState(
  entry: Pick<HostEntry, 'seenAt' | 'draining'> & Partial<Pick<HostEntry, 'lockMs' | 'stalledMs'>>,
  now: number,
): HostState {
  const age = now - Date.parse(entry.seenAt);
  const silent = 3 * HOST_REFRESH_MS;
  const gone =
    silent + (entry.lockMs ?? DEFAULT_TIMINGS.lockMs) + (entry.stalledMs ?? DEFAULT_TIMINGS.stalledMs);
  if (!(age <= 2 * gone)) return 'dropped';
  if (age > gone) return 'gone';
  if (age > silent) return 'silent';
  return entry.draining ? 'draining' : 'working';
}

/** How long a worker's hold on its name lasts unrefreshed: until the host counts as gone. */
export function hostNameTtlMs(timings: Pick<FleetTimings, 'lockMs' | 'stalledMs'>): number {
  return 3 * HOST_REFRESH_MS + timings.lockMs + timings.stalledMs;
}

/**
 * A task's environment its exit policy kept (for someone to look at): a worker restarting after a
 * crash leaves it. Not one whose host died before the policy ran (the command had ended, the host was
 * publishing or tearing down): that one is a leftover like any other.
 */
export function keptByExitPolicy(
  outcome: { state: string; onExit: string; result: string } | undefined,
): boolean {
  if (!outcome || outcome.state === 'running' || outcome.state === 'abandoned') return false;
  return outcome.onExit === 'keep' || outcome.result === 'kept-unmerged';
}
