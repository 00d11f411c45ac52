import type { z } from 'zod';
import { readTail } from '../../adapters/files.js';
import { branchTip, pushReplacing, remoteBranchTip } from '../../adapters/git.js';
import type { HeldTask } from '../../adapters/queue.js';
import { unrecoverable } from '../../adapters/queue.js';
import type { fleetOutcomeSchema } from '../../contract.js';
import { messageOf } from '../../errors.js';
import { type FleetTask, fleetTaskSchema, resultBranch } from '../../plan/fleet.js';
import type { Runtime } from '../../runtime.js';
import type { HostPaths } from '../../state/paths.js';
import { openRepo } from '../context.js';
import { runTask } from '../task/run.js';
import { baseCommit, cachedRepo, configAtBase, RepoUnavailable } from './cache.js';
import { clearAgent, clearBranch } from './leftovers.js';

/** The steps of a task on a host, as `fleet status` shows them. */
export type FleetStep =
  | 'fetch'
  | 'provision'
  | 'run'
  | 'publish'
  | 'teardown'
  | 'done'
  | 'given-back'
  | 'lost';

/** What a task's attempt reports to the queue (job progress), and keeps when it ends. */
export interface FleetProgress {
  step: FleetStep;
  host: string;
  attempt: number;
  detail?: string;
  outcome?: FleetOutcome;
}

/** How a task went: the command's exit code, its commits, and the branch published on the remote. */
export type FleetOutcome = z.output<typeof fleetOutcomeSchema>;

/** Why a host stopped a task before it ended. */
export type StopReason = 'draining' | 'lock-lost';

export interface TaskHost {
  name: string;
  paths: HostPaths;
  runtime: Partial<Runtime>;
  lockMs: number;
  /** Why the host stopped this task, once it has. */
  stopReason: (id: string) => StopReason | undefined;
  progress: (message: string) => void;
}

/** A lock renewal failed right before publishing: another host runs the task now. */
class LockLost extends Error {
  constructor() {
    super('this host lost the task (its lock expired): another host runs it; nothing was published');
  }
}

/**
 * One attempt at a task on this host: the repository fetched into the host's cache, `berth run`
 * (provision, the command, the outcome), the branch published to the remote while this host still
 * holds the task, then the exit policy. Whatever happens, nothing of the attempt stays on the host
 * but what the exit policy keeps; work that was not published is saved as patches.
 */
export async function runFleetTask(
  held: HeldTask<unknown>,
  signal: AbortSignal,
  host: TaskHost,
): Promise<FleetOutcome> {
  const parsed = fleetTaskSchema.safeParse(held.data);
  if (!parsed.success)
    throw unrecoverable(`the task is not one berth can run: ${parsed.error.issues[0]?.message}`);
  const task = parsed.data;
  const report = async (step: FleetStep, detail?: string, outcome?: FleetOutcome) => {
    const value: FleetProgress = {
      step,
      host: host.name,
      attempt: held.started,
      ...(detail && { detail }),
      ...(outcome && { outcome }),
    };
    await held.progress(value).catch(() => {});
    if (detail) host.progress(`${task.name}: ${detail.replace(`${task.name}: `, '')}`);
  };

  await report('fetch', `fetching ${task.repo}`);
  let root: string;
  try {
    root = await cachedRepo(host.paths, task.repo, `${host.name}-${held.id}`);
  } catch (error) {
    if (error instanceof RepoUnavailable) throw unrecoverable(error.message);
    throw error;
  }
  const base = await baseCommit(root, task.repo, task.from).catch((error: Error) => {
    throw unrecoverable(messageOf(error));
  });
  const branch = resultBranch(task);
  const seen = await remoteBranchTip(root, branch);
  const context = await openRepo({ repo: root, runtime: host.runtime });
  // An earlier attempt on this host (its worker killed, or the command failed and is retried) starts over.
  await clearAgent(context, task.name, 'an earlier attempt of its task');
  await clearBranch(context, branch);
  const configPath = await configAtBase(host.paths, root, task.name, base);

  let commit = '';
  try {
    await report('provision', 'provisioning');
    const entry = await runTask({
      repo: root,
      name: task.name,
      from: base,
      branch,
      command: task.command,
      onExit: task.onExit,
      configPath,
      quiet: true,
      signal,
      runtime: host.runtime,
      progress: (message) => void report('provision', message.replace(`${task.name}: `, '')),
      onRunning: () => void report('run', `running ${task.command.join(' ')}`),
      beforeExit: async () => {
        if (host.stopReason(held.id) || !(await held.renewLock(host.lockMs))) throw new LockLost();
        await report('publish', `publishing ${branch}`);
        commit = (await branchTip(root, branch)) ?? base;
        const pushed = await pushReplacing(root, branch, seen);
        if (!pushed.ok) throw new Error(`publishing ${branch} failed: ${pushed.reason}`);
        await report(
          'teardown',
          `${task.onExit === 'keep' ? 'keeping' : 'applying --on-exit'} ${task.onExit}`,
        );
      },
    });
    const outcome = outcomeOf(entry.task, host.name, branch, commit, base);
    if (!entry.agent) await clearBranch(context, branch);
    await keepTail(held, entry.task?.logFile);
    await report(
      'done',
      `exit ${outcome.exitCode}, ${outcome.commits} commit(s) published as ${branch}`,
      outcome,
    );
    if (outcome.exitCode !== 0) throw new Error(`the command exited with ${outcome.exitCode ?? 'no code'}`);
    return outcome;
  } catch (error) {
    if (commit) throw error;
    // Not published: the attempt's environment goes (its work saved as patches), and the task with it.
    await clearAgent(context, task.name, 'its attempt was stopped before publishing').catch(() => {});
    await clearBranch(context, branch).catch(() => {});
    const reason = host.stopReason(held.id);
    if (reason === 'draining') {
      await report('given-back', 'the host is draining: given back to the queue');
      throw await held.giveBack();
    }
    if (reason === 'lock-lost' || error instanceof LockLost) {
      await report('lost', 'this host lost the task; another host runs it');
      throw new LockLost();
    }
    throw error;
  }
}

function outcomeOf(
  task:
    | { exitCode: number | null; commits: number; durationMs: number; result: string; savedPatch?: string }
    | null
    | undefined,
  host: string,
  branch: string,
  commit: string,
  base: string,
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

export type { FleetTask };
