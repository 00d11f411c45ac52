import { copyTree, exists, readText, removeTree, writeFile } from '../../adapters/files.js';
import type { TaskView } from '../../contract.js';
import type { AgentRecord, ProcessId } from '../../plan/agent.js';
import type { ExitPolicy } from '../../plan/exit.js';
import type { RepoContext } from '../context.js';

/**
 * What happened to an agent's task, kept in its history after the agent is gone (for `berth show` and
 * `berth logs`): the contract's task, and, while it runs, the berth process running it (so a task whose
 * process died reads as abandoned).
 */
export type TaskOutcome = TaskView & { runner?: ProcessId };
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
  // Outcomes written by older berths have no state: their task had finished.
  const outcome = { state: 'finished', ...JSON.parse(text) } as TaskOutcome;
  if (outcome.state === 'running' && outcome.runner && !context.runtime.isRunning(outcome.runner)) {
    const { runner: _gone, ...rest } = outcome;
    return { ...rest, state: 'abandoned' };
  }
  return outcome;
}
