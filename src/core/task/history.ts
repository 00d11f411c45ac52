import { copyTree, exists, readText, removeTree, writeFile } from '../../adapters/files.js';
import type { AgentRecord, ProcessId } from '../../plan/agent.js';
import type { BranchOutcome } from '../../plan/branch.js';
import type { ExitPolicy } from '../../plan/exit.js';
import type { RepoContext } from '../context.js';

/** What happened to an agent's task: kept after the agent is gone, for `berth show` and `berth logs`. */
export interface TaskOutcome {
  name: string;
  branch: string;
  /**
   * running: the command runs (in `runner`); finished: it exited; terminated: it was stopped by a
   * signal to berth; abandoned: its berth process died without saying (read, never written).
   */
  state?: 'running' | 'finished' | 'terminated' | 'abandoned';
  /** The berth process running the task, while state is running. */
  runner?: ProcessId;
  /** The agent command's exit code; null when the task was marked complete from outside. */
  exitCode: number | null;
  command?: string[];
  startedAt: string;
  endedAt: string;
  durationMs: number;
  /** Commits on the branch since it started from its base. */
  commits: number;
  /** `git diff --shortstat` of the branch against where it started. */
  diffStat: string;
  onExit: ExitPolicy;
  /** What the exit policy did. */
  result: 'kept' | 'torn-down' | 'kept-unmerged' | 'teardown-failed';
  /** Uncommitted changes saved before a teardown. */
  savedPatch?: string;
  /** What became of the branch when the exit policy tore the agent down. */
  branchOutcome?: BranchOutcome;
  message?: string;
}

export type { ExitPolicy };

/** Copies the agent's logs to its history, which outlives the agent. */
export function archiveLogs(context: RepoContext, agent: AgentRecord): void {
  const logs = context.paths.agentLogs(agent.name);
  if (!exists(logs)) return;
  const target = context.paths.historyLogs(agent.name);
  removeTree(target);
  copyTree(logs, target);
}

export function writeOutcome(context: RepoContext, outcome: TaskOutcome): void {
  writeFile(context.paths.outcomeFile(outcome.name), `${JSON.stringify(outcome, null, 2)}\n`);
}

/** The last task's outcome; one whose berth process died while it ran reads as abandoned. */
export function readOutcome(context: RepoContext, name: string): TaskOutcome | undefined {
  const text = readText(context.paths.outcomeFile(name));
  if (text === undefined) return undefined;
  const outcome = JSON.parse(text) as TaskOutcome;
  if (outcome.state === 'running' && outcome.runner && !context.runtime.isRunning(outcome.runner)) {
    return { ...outcome, state: 'abandoned', runner: undefined };
  }
  return outcome;
}
