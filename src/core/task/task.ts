import { branchFacts } from '../../adapters/git.js';
import type { EntryView } from '../../contract.js';
import { UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { branchStanding } from '../../plan/branch.js';
import { type ExitPolicy, exitDecision } from '../../plan/exit.js';
import { validateAgentName } from '../../plan/names.js';
import { branchWork } from '../agent/branch-work.js';
import { runInAgent } from '../agent/exec.js';
import { liveFacts } from '../agent/list.js';
import { type ProvisionOptions, provision } from '../agent/provision.js';
import { withSession } from '../agent/sessions.js';
import { removeWithHooks } from '../agent/teardown.js';
import { agentView, successEntry } from '../agent/views.js';
import { findAgent, openRepo, type RepoContext, type RepoOptions, requireAgent } from '../context.js';
import { readOutcome, type TaskOutcome, writeOutcome } from './history.js';

export interface TaskOptions extends Omit<ProvisionOptions, 'name'> {
  name: string;
  command: string[];
  onExit?: ExitPolicy;
  /** Attach a TTY (default: when stdin and stdout are one). An attached run's output is not kept. */
  tty?: boolean;
  /** Keep the output in the run's log only (many tasks at once); else it is copied to `echo` too. */
  quiet?: boolean;
  /** Where a run that is not attached copies its output as it comes (default stdout; stderr with --json). */
  echo?: 'stdout' | 'stderr';
  /** SIGTERM or SIGINT to berth: the command in the container is stopped, the outcome recorded. */
  signal?: AbortSignal;
  /**
   * Called once the outcome is recorded and before the exit policy applies (a fleet host publishes the
   * branch here). If it throws, the policy is not applied and runTask rejects with its error.
   */
  beforeExit?: (agent: AgentRecord, outcome: TaskOutcome) => Promise<void>;
  /** Called when the environment is ready and the command starts. */
  onRunning?: () => void;
}

/**
 * One task from start to end: provisions the agent if it does not exist, runs the agent command in its
 * container (renewing its time to live), records the outcome, and applies the exit policy. Resolves to the
 * agent's entry (its environment, if the policy kept it, and the task); the task's exitCode is the
 * command's.
 */
export async function runTask(options: TaskOptions): Promise<EntryView> {
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
  const task = await withSession(context, name, 'run', async (agent) => {
    const startedAt = new Date(runtime.now());
    const attached = !options.quiet && (options.tty ?? Boolean(process.stdin.isTTY && process.stdout.isTTY));
    const logFile = attached ? undefined : context.paths.runLog(name, startedAt.getTime());
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
      ...(logFile && { logFile }),
    };
    writeOutcome(context, running);
    options.onRunning?.();
    const { exitCode, stopped } = await runInAgent(context, agent, options.command, {
      tty: attached,
      logFile,
      echo: options.quiet ? undefined : (options.echo ?? 'stdout'),
      signal: options.signal,
    });
    if (stopped) options.progress?.(`${name}: stopped by a signal; the command in the container was stopped`);
    const { runner: _done, ...ran } = running;
    return finish(
      context,
      agent,
      { ...ran, exitCode, state: stopped ? 'terminated' : 'finished' },
      options.progress,
      options.beforeExit,
    );
  });
  return entryAfter(context, name, task);
}

/**
 * Marks the agent's task complete from outside (an agent's own end-of-session hook) and applies the
 * policy. The last run's exit code, command and duration are kept: completing records that the task was
 * marked complete, it does not erase how it went.
 */
export async function completeTask(
  options: RepoOptions & { name: string; onExit?: ExitPolicy; progress?: (m: string) => void },
): Promise<EntryView> {
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  const agent = requireAgent(context, name);
  const now = new Date(context.runtime.now()).toISOString();
  const last = readOutcome(context, name);
  const { runner: _gone, ...ran }: TaskOutcome = last ?? {
    name,
    branch: agent.branch,
    state: 'finished',
    exitCode: null,
    startedAt: now,
    endedAt: now,
    durationMs: 0,
    commits: 0,
    diffStat: '',
    onExit: 'keep',
    result: 'kept',
  };
  const task = await finish(
    context,
    agent,
    { ...ran, completedAt: now, onExit: options.onExit ?? 'keep', result: 'kept' },
    options.progress,
  );
  return entryAfter(context, name, task);
}

/** Records how the task went (the agent's work on its branch included) and applies the exit policy. */
async function finish(
  context: RepoContext,
  agent: AgentRecord,
  task: Omit<TaskOutcome, 'commits' | 'diffStat' | 'result'> & Partial<TaskOutcome>,
  progress?: (message: string) => void,
  beforeExit?: TaskOptions['beforeExit'],
): Promise<TaskOutcome> {
  const ended = task.completedAt ? undefined : new Date(context.runtime.now());
  const timing = ended
    ? { endedAt: ended.toISOString(), durationMs: ended.getTime() - Date.parse(task.startedAt) }
    : {};
  const outcome: TaskOutcome = {
    ...task,
    ...timing,
    ...(await branchWork(context, agent)),
    result: 'kept',
  };
  writeOutcome(context, outcome);
  await beforeExit?.(agent, outcome);
  const applied = await applyExitPolicy(context, agent, outcome.onExit, progress);
  const final = { ...outcome, ...applied };
  writeOutcome(context, final);
  return final;
}

/** The agent's entry once its task ended: its environment if the policy kept it, and the task. */
async function entryAfter(context: RepoContext, name: string, task: TaskOutcome): Promise<EntryView> {
  const record = findAgent(context, name);
  if (!record) return successEntry(name, null, task);
  const live = await liveFacts(context, [record]);
  return successEntry(name, agentView(record, live(record), { isRunning: context.runtime.isRunning }), task);
}

async function applyExitPolicy(
  context: RepoContext,
  agent: AgentRecord,
  policy: ExitPolicy,
  progress?: (message: string) => void,
): Promise<Pick<TaskOutcome, 'result' | 'savedPatch' | 'message' | 'branchOutcome'>> {
  const standing =
    policy === 'teardown-if-merged'
      ? branchStanding(await branchFacts(context.root, agent.branch, agent.baseCommit, agent.baseRef))
      : 'absent';
  const decision = exitDecision(policy, { name: agent.branch, base: agent.baseRef, standing });
  if (!decision.teardown)
    return decision.result === 'kept'
      ? { result: 'kept' }
      : { result: decision.result, message: decision.message };
  // The task is over: its uncommitted work is saved (by the removal, once the agent has stopped).
  try {
    const reason = `its task ended (--on-exit ${policy})`;
    const removed = await removeWithHooks(context, agent, { force: false, progress }, reason);
    return {
      result: 'torn-down',
      branchOutcome: removed.branchOutcome,
      ...(removed.savedPatch && { savedPatch: removed.savedPatch }),
    };
  } catch (error) {
    return { result: 'teardown-failed', message: (error as Error).message };
  }
}
