import { readTail, removeFile } from '../../adapters/files.js';
import { branchTip, pushReplacing, remoteBranchTip } from '../../adapters/git.js';
import type { FleetStore, HeldTask } from '../../adapters/queue.js';
import { isUnrecoverable, unrecoverable } from '../../adapters/queue.js';
import type { FleetOutcome } from '../../contract.js';
import { isBerthError, messageOf, UsageError } from '../../errors.js';
import {
  type AttemptEnd,
  attemptEnvName,
  attemptId,
  type FleetStep,
  type FleetTask,
  failureKind,
  fleetTaskSchema,
  HOST_FAILURE_DELAY_MS,
  HOST_FAILURE_RETRIES,
  hostFailures,
  publishedEarlier,
  resultBranch,
  taskTimeoutMs,
} from '../../plan/fleet.js';
import { type Runtime, runtimeFrom } from '../../runtime.js';
import type { HostPaths } from '../../state/paths.js';
import { findAgent, openRepo, type RepoContext } from '../context.js';
import type { TaskOutcome } from '../task/history.js';
import { runTask } from '../task/task.js';
import { dropCancel, readAttempts, type StoredAttempt, writeAttempt } from './attempts.js';
import { baseCommit, cachedRepo, defaultBranch, RepoUnavailable, trustedConfig } from './cache.js';
import { clearAgent, clearBranch } from './leftovers.js';

/** Why a host stops an attempt before it ends. */
export type StopReason = 'draining' | 'lock-lost' | 'cancelled' | 'timeout';

/**
 * One attempt at a task, as its host keeps it while it lives: its own id, environment name, record,
 * stop signal and reason. Nothing of it is keyed by the task alone, so a later attempt of the same task
 * never reads this one's state.
 */
export interface LiveAttempt {
  /** `<task>@<submission>#<n>`: the host's key for it. */
  readonly key: string;
  readonly task: string;
  readonly stamp: number;
  readonly number: number;
  /** `<task>#<n>`. */
  readonly id: string;
  /** Its agent's name on this host. */
  readonly env: string;
  readonly signal: AbortSignal;
  readonly stopReason: StopReason | undefined;
  /** Stops it (once: the first reason stands). */
  stop: (reason: StopReason) => void;
  record: StoredAttempt;
  /** Writes its record with `patch` applied (only this attempt writes it). */
  write: (patch: Partial<StoredAttempt>) => Promise<void>;
}

export function newAttempt(
  held: HeldTask<unknown>,
  host: string,
  store: FleetStore,
  now: () => number,
  queueSignal: AbortSignal,
): LiveAttempt {
  const task = held.id;
  const controller = new AbortController();
  let stopReason: StopReason | undefined;
  let writing = Promise.resolve();
  const attempt: LiveAttempt = {
    key: `${task}@${held.stamp}#${held.started}`,
    task,
    stamp: held.stamp,
    number: held.started,
    id: attemptId(task, held.started),
    env: attemptEnvName(task, held.started),
    signal: AbortSignal.any([controller.signal, queueSignal]),
    get stopReason() {
      return stopReason;
    },
    stop: (reason) => {
      if (stopReason) return;
      stopReason = reason;
      controller.abort(reason);
    },
    record: {
      id: attemptId(task, held.started),
      number: held.started,
      job: held.stamp,
      host,
      env: attemptEnvName(task, held.started),
      startedAt: new Date(now()).toISOString(),
      step: 'fetch',
    },
    // Writes go out in order: a later patch never lands under an earlier one.
    write: (patch) => {
      attempt.record = { ...attempt.record, ...patch };
      const record = attempt.record;
      writing = writing.then(() => writeAttempt(store, task, record)).catch(() => {});
      return writing;
    },
  };
  return attempt;
}

export interface TaskHost {
  name: string;
  paths: HostPaths;
  runtime: Partial<Runtime>;
  lockMs: number;
  store: FleetStore;
  /** The worker's own berth.yaml for every task (else each repository's default branch's). */
  workerConfig?: string;
  /** The host's owner lets tasks' configs run commands on the host. */
  allowHostHooks: boolean;
  progress: (message: string) => void;
}

/** The attempt stopped before it published, for `reason`. */
class Stopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`stopped: ${reason}`);
  }
}

/** This host lost its lock on the task: the queue takes nothing from it (the task runs again). */
class LockLost extends Error {
  constructor() {
    super('this host lost its lock on the task; the queue gives the task to a host again');
  }
}

/**
 * One attempt at a task on this host: the repository fetched into the host's cache, `berth run`
 * (provision, the command, the outcome) in an environment of the attempt's own, the branch published
 * to the remote while this attempt still holds the task's lock, then the exit policy. Whatever
 * happens, nothing of the attempt stays on the host but what the exit policy keeps; work that was not
 * published is saved as patches.
 */
export async function runFleetTask(
  held: HeldTask<unknown>,
  attempt: LiveAttempt,
  host: TaskHost,
): Promise<FleetOutcome> {
  const parsed = fleetTaskSchema.safeParse(held.data);
  if (!parsed.success)
    throw unrecoverable(`the task is not one berth can run: ${parsed.error.issues[0]?.message}`);
  const task = parsed.data;
  // berth's own progress lines belong to the step under way: provisioning, or the exit policy's teardown.
  let current: FleetStep = 'fetch';
  const report = async (step: FleetStep, detail?: string) => {
    current = step;
    await attempt.write({ step, ...(detail && { detail }) });
    // The job's progress wakes watchers; an attempt that lost the task no longer speaks for it.
    if (attempt.stopReason !== 'lock-lost')
      await held
        .progress({ step, host: host.name, attempt: attempt.id, ...(detail && { detail }) })
        .catch(() => {});
    if (detail) host.progress(`${attempt.id}: ${detail.replace(`${attempt.env}: `, '')}`);
  };

  const branch = `berth/${attempt.env}`;
  const result = resultBranch(task);
  let phase: 'prepare' | 'command' = 'prepare';
  let published: FleetOutcome | undefined;
  let context: RepoContext | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await report('fetch', `fetching ${task.repo}`);
    stopIfAsked(attempt);
    let root: string;
    let head: Awaited<ReturnType<typeof defaultBranch>>;
    try {
      head = await defaultBranch(host.paths, task.repo);
      root = await cachedRepo(host.paths, task.repo, attempt.env);
    } catch (error) {
      if (error instanceof RepoUnavailable) throw unrecoverable(error.message);
      throw error;
    }
    const base = await baseCommit(root, task.repo, task.from, head);
    const seen = await remoteBranchTip(root, result);

    // An earlier attempt published, and its host lost the task before the queue took the outcome.
    const earlier = publishedEarlier(
      await readAttempts(host.store, task.name),
      attempt.stamp,
      attempt.number,
    ) as StoredAttempt | undefined;
    if (earlier?.outcome && seen === earlier.outcome.commit) {
      const outcome = { ...earlier.outcome, attempt: earlier.id };
      published = outcome;
      await attempt.write({ outcome });
      await report(
        'done',
        `${earlier.id} published ${result} before its host lost the task: its outcome stands`,
      );
      if (outcome.exitCode !== 0) throw new Error(commandFailure(outcome, task, earlier.id));
      return outcome;
    }

    context = await openRepo({ repo: root, runtime: host.runtime });
    const config = await trustedConfig(host.paths, root, attempt.env, {
      workerConfig: host.workerConfig,
      head,
      allowHostHooks: host.allowHostHooks,
    });
    await attempt.write({ config: config.source });
    // An environment of this name kept from an earlier submission (on-exit keep, then --replace) is
    // that submission's work: this attempt never runs in it, nor removes it.
    if (findAgent(context, attempt.env)) {
      throw new UsageError(
        'environment-kept',
        `an environment named ${attempt.env} is kept on this host from an earlier submission of ${task.name}; this attempt does not run in it`,
        { hint: `tear it down first (berth teardown ${attempt.env} --repo ${root}), then submit again` },
      );
    }
    stopIfAsked(attempt);
    await report('provision', 'provisioning');
    const entry = await runTask({
      repo: root,
      name: attempt.env,
      from: base,
      branch,
      command: task.command,
      onExit: task.onExit,
      configPath: config.file,
      imports: false,
      quiet: true,
      signal: attempt.signal,
      runtime: host.runtime,
      progress: (message) => void report(current === 'teardown' ? 'teardown' : 'provision', message),
      onRunning: () => {
        phase = 'command';
        void report('run', `running ${task.command.join(' ')}`);
        const limit = taskTimeoutMs(task);
        if (limit !== undefined) timer = setTimeout(() => attempt.stop('timeout'), limit);
      },
      beforeExit: async (_agent, ran) => {
        clearTimeout(timer);
        if (attempt.stopReason && attempt.stopReason !== 'timeout') throw new Stopped(attempt.stopReason);
        // Only the holder of the task's lock publishes: just before pushing, the lock is renewed.
        if ((await held.renewLock(host.lockMs)) !== 'held') {
          attempt.stop('lock-lost');
          throw new Stopped('lock-lost');
        }
        await report('publish', `publishing ${result}`);
        const commit = (await branchTip(root, branch)) ?? base;
        const pushed = await pushReplacing(root, branch, result, seen);
        if (!pushed.ok) throw new Error(`publishing ${result} failed: ${pushed.reason}`);
        published = outcomeOf(ran, host.name, result, commit, base, attempt.id, config.source);
        await attempt.write({ published: { commit, base }, outcome: published });
        await report(
          'teardown',
          `${task.onExit === 'keep' ? 'keeping' : 'applying --on-exit'} ${task.onExit}`,
        );
      },
    });
    const outcome = outcomeOf(
      entry.task,
      host.name,
      result,
      published?.commit ?? base,
      base,
      attempt.id,
      config.source,
    );
    await attempt.write({ outcome });
    if (!entry.agent) await clearBranch(context, branch);
    await keepTail(held, entry.task?.logFile);
    await report('done', `exit ${outcome.exitCode}, ${outcome.commits} commit(s) published as ${result}`);
    if (outcome.exitCode !== 0 || attempt.stopReason === 'timeout')
      throw new Error(commandFailure(outcome, task, undefined, attempt.stopReason === 'timeout'));
    return outcome;
  } catch (error) {
    clearTimeout(timer);
    if (published) throw error;
    // Not published: the attempt's environment goes (its work saved as patches), and its branch with it.
    if (context) {
      await report('stopping', 'removing its environment (work saved as patches)');
      await clearAgent(context, attempt.env, 'its attempt ended before publishing').catch(() => {});
      await clearBranch(context, branch).catch(() => {});
    }
    throw await ending(error);
  } finally {
    clearTimeout(timer);
    // The provision kept its own copy of the config (in the agent's folder).
    removeFile(host.paths.fleetTaskConfig(attempt.env));
  }

  /** What the queue is told of an attempt that did not publish, and what its record says. */
  async function ending(error: unknown): Promise<Error> {
    const end = (how: AttemptEnd, reason: string) =>
      attempt.write({ end: how, reason, endedAt: new Date(runtimeFrom(host.runtime).now()).toISOString() });
    switch (attempt.stopReason) {
      case 'draining':
        await end('given-back', 'the host drained: back to the queue, not counted as an attempt');
        await report('given-back', 'the host is draining: given back to the queue');
        return held.giveBack();
      case 'lock-lost':
        await end('lost', 'this host lost its lock on the task: the queue gives it to a host again');
        await report('lost', 'this host lost its lock on the task; it runs again');
        return new LockLost();
      case 'cancelled': {
        const reason = `cancelled: stopped on ${host.name} before publishing; its work is saved as patches there`;
        await end('cancelled', reason);
        await dropCancel(host.store, task.name).catch(() => {});
        return unrecoverable(reason);
      }
      case 'timeout':
        return new Error(`the command ran past its timeout (${task.timeout}) and was stopped`);
    }
    const message = messageOf(error).split('\n')[0] ?? 'failed';
    if (phase === 'prepare' && !isUnrecoverable(error)) {
      const coded = isBerthError(error) ? error : { exitCode: undefined, code: undefined };
      if (failureKind(coded) === 'host') {
        const before = hostFailures(await readAttempts(host.store, task.name), attempt.stamp);
        if (before < HOST_FAILURE_RETRIES) {
          await end('host-failure', message);
          await report(
            'given-back',
            `this host could not make its environment (${message}): back to the queue in ${HOST_FAILURE_DELAY_MS / 1000} s`,
          );
          return held.giveBackAfter(HOST_FAILURE_DELAY_MS);
        }
        return unrecoverable(`${message} (hosts failed to make its environment ${before + 1} times)`);
      }
      if (isBerthError(error) && error.exitCode === 2) return unrecoverable(message);
    }
    return error instanceof Error ? error : new Error(message);
  }
}

function stopIfAsked(attempt: LiveAttempt): void {
  if (attempt.stopReason) throw new Stopped(attempt.stopReason);
}

function commandFailure(outcome: FleetOutcome, task: FleetTask, by?: string, timedOut = false): string {
  const of = by ? ` (${by})` : '';
  if (timedOut) return `the command ran past its timeout (${task.timeout}) and was stopped${of}`;
  return `the command exited with ${outcome.exitCode ?? 'no code'}${of}`;
}

function outcomeOf(
  task: Pick<TaskOutcome, 'exitCode' | 'commits' | 'durationMs' | 'result' | 'savedPatch'> | null | undefined,
  host: string,
  branch: string,
  commit: string,
  base: string,
  attempt: string,
  config: string,
): FleetOutcome {
  return {
    host,
    exitCode: task?.exitCode ?? null,
    commits: task?.commits ?? 0,
    branch,
    commit,
    base,
    durationMs: task?.durationMs ?? 0,
    result: task?.result ?? 'kept',
    ...(task?.savedPatch && { savedPatch: task.savedPatch }),
    attempt,
    config,
  };
}

/** The last lines of the command's output go to the queue's log of the task: they outlive the host. */
async function keepTail(held: HeldTask<unknown>, logFile: string | undefined): Promise<void> {
  if (!logFile) return;
  try {
    const lines = readTail(logFile, 8192).text.split('\n').filter(Boolean).slice(-50);
    for (const line of lines) await held.log(line);
  } catch {
    // The log is a convenience; the outcome is what counts.
  }
}

export type { FleetStep, FleetTask };
