import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentRecord } from '../plan/agent.js';
import type { RepoContext } from './context.js';
import { agentLogDir } from './hooks.js';

/** What happened to an agent's task: kept after the agent is gone, for `berth show` and `berth logs`. */
export interface TaskOutcome {
  name: string;
  branch: string;
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
  message?: string;
}

export type ExitPolicy = 'keep' | 'teardown' | 'teardown-if-merged';
export const EXIT_POLICIES: readonly ExitPolicy[] = ['keep', 'teardown', 'teardown-if-merged'];

export function historyDir(context: RepoContext, name: string): string {
  return join(context.berthDir, 'history', name);
}

export function historyLogDir(context: RepoContext, name: string): string {
  return join(historyDir(context, name), 'logs');
}

/** Copies the agent's logs to its history, which outlives the agent. */
export function archiveLogs(context: RepoContext, agent: AgentRecord): void {
  const logs = agentLogDir(agent);
  if (!existsSync(logs)) return;
  const target = historyLogDir(context, agent.name);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  cpSync(logs, target, { recursive: true });
}

export function writeOutcome(context: RepoContext, outcome: TaskOutcome): void {
  mkdirSync(historyDir(context, outcome.name), { recursive: true });
  writeFileSync(
    join(historyDir(context, outcome.name), 'outcome.json'),
    `${JSON.stringify(outcome, null, 2)}\n`,
  );
}

export function readOutcome(context: RepoContext, name: string): TaskOutcome | undefined {
  const file = join(historyDir(context, name), 'outcome.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as TaskOutcome) : undefined;
}
