import { branchMerged } from '../../adapters/git.js';
import { UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { type ExitPolicy, exitDecision } from '../../plan/exit.js';
import { validateAgentName } from '../../plan/names.js';
import { branchWork } from '../agent/branch-work.js';
import { runInAgent } from '../agent/exec.js';
import { type ProvisionOptions, provision } from '../agent/provision.js';
import { withSession } from '../agent/sessions.js';
import { removeWithHooks } from '../agent/teardown.js';
import { findAgent, openRepo, type RepoContext, type RepoOptions, requireAgent } from '../context.js';
import { type TaskOutcome, writeOutcome } from './history.js';

export interface RunOptions extends Omit<ProvisionOptions, 'name'> {
  name: string;
  command: string[];
  onExit?: ExitPolicy;
  /** Attach a TTY (default: when stdin is one). */
  tty?: boolean;
  /** Send the command's output here instead of this terminal (for many tasks at once). */
  logFile?: string;
  /** SIGTERM or SIGINT to berth: the command in the container is stopped, the outcome recorded. */
  signal?: AbortSignal;
}

/**
 * One task from start to end: provisions the agent if it does not exist, runs the agent command in its
 * container (renewing the lease), records the outcome, and applies the exit policy. Resolves to the
 * outcome, whose exitCode is the command's.
 */
export async function runTask(options: RunOptions): Promise<TaskOutcome> {
  if (options.command.length === 0) {
    throw new UsageError('no-command', 'no agent command given', {
      hint: 'put it after --: berth run NAME -- claude …',
    });
  }
  const name = validateAgentName(options.name);
  let context = await openRepo(options);
  if (!findAgent(context, name)) await provision({ ...options, name });
  context = await openRepo(options);
  requireAgent(context, name);
  const { runtime } = context;
  return withSession(context, name, 'run', async (agent) => {
    const startedAt = new Date(runtime.now());
    const running: TaskOutcome = {
      name,
      branch: agent.branch,
      state: 'running',
      runner: runtime.self(),
      exitCode: null,
      command: options.command,
      startedAt: startedAt.toISOString(),
      endedAt: startedAt.toISOString(),
      durationMs: 0,
      commits: 0,
      diffStat: '',
      onExit: options.onExit ?? 'keep',
      result: 'kept',
    };
    writeOutcome(context, running);
    const { exitCode, stopped } = await runInAgent(context, agent, options.command, options);
    if (stopped) options.progress?.(`${name}: stopped by a signal; the command in the container was stopped`);
    return finish(context, agent, {
      exitCode,
      state: stopped ? 'terminated' : 'finished',
      command: options.command,
      startedAt,
      onExit: options.onExit ?? 'keep',
      progress: options.progress,
    });
  });
}

/** Marks the agent's task complete from outside (an agent's own end-of-session hook) and applies the policy. */
export async function completeTask(
  options: RepoOptions & { name: string; onExit?: ExitPolicy; progress?: (m: string) => void },
) {
  const context = await openRepo(options);
  const agent = requireAgent(context, validateAgentName(options.name));
  return finish(context, agent, {
    exitCode: null,
    state: 'finished',
    startedAt: new Date(agent.createdAt),
    onExit: options.onExit ?? 'keep',
    progress: options.progress,
  });
}

interface Finish {
  exitCode: number | null;
  state: 'finished' | 'terminated';
  command?: string[];
  startedAt: Date;
  onExit: ExitPolicy;
  progress?: (message: string) => void;
}

async function finish(context: RepoContext, agent: AgentRecord, done: Finish): Promise<TaskOutcome> {
  const endedAt = new Date(context.runtime.now());
  const work = await branchWork(context, agent);
  const outcome: TaskOutcome = {
    name: agent.name,
    branch: agent.branch,
    state: done.state,
    exitCode: done.exitCode,
    command: done.command,
    startedAt: done.startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - done.startedAt.getTime(),
    ...work,
    onExit: done.onExit,
    result: 'kept',
  };
  writeOutcome(context, outcome);
  const applied = await applyExitPolicy(context, agent, done.onExit, done.progress);
  const final = { ...outcome, ...applied };
  writeOutcome(context, final);
  return final;
}

async function applyExitPolicy(
  context: RepoContext,
  agent: AgentRecord,
  policy: ExitPolicy,
  progress?: (message: string) => void,
): Promise<Pick<TaskOutcome, 'result' | 'savedPatch' | 'message' | 'branchOutcome'>> {
  const merged =
    policy === 'teardown-if-merged' && (await branchMerged(context.root, agent.branch, agent.baseRef));
  const decision = exitDecision(policy, { name: agent.branch, base: agent.baseRef, merged });
  if (!decision.teardown)
    return decision.result === 'kept'
      ? { result: 'kept' }
      : { result: decision.result, message: decision.message };
  // The task is over: its uncommitted work is saved (by the removal, once the agent has stopped).
  try {
    const reason = `its task ended (--on-exit ${policy})`;
    const removed = await removeWithHooks(context, agent, { force: false, progress }, reason);
    return { result: 'torn-down', savedPatch: removed.savedPatch, branchOutcome: removed.branchOutcome };
  } catch (error) {
    return { result: 'teardown-failed', message: (error as Error).message };
  }
}
