import type { TaskOutcome } from '../../core/task/history.js';
import { UsageError } from '../../errors.js';
import { describeBranchOutcome } from '../../plan/branch.js';
import { EXIT_POLICIES, type ExitPolicy } from '../../plan/exit.js';

export function exitPolicy(value: string | undefined): ExitPolicy | undefined {
  if (value === undefined) return undefined;
  if (!(EXIT_POLICIES as readonly string[]).includes(value)) {
    throw new UsageError('bad-policy', `--on-exit takes ${EXIT_POLICIES.join(', ')}, not "${value}"`, {
      hint: 'keep leaves the environment; teardown removes it, keeping the branch and any unsaved work as a patch',
    });
  }
  return value as ExitPolicy;
}

/** How the last run ended, and (marked by `berth complete`) that the task was completed. */
function runText(outcome: TaskOutcome): string {
  const seconds = `after ${(outcome.durationMs / 1000).toFixed(1)} s`;
  const run =
    outcome.state === 'abandoned'
      ? 'abandoned: its berth process died while the command ran'
      : outcome.state === 'running'
        ? 'still running'
        : outcome.state === 'terminated'
          ? `stopped by a signal (exit ${outcome.exitCode}) ${seconds}`
          : outcome.exitCode === null
            ? ''
            : `exited with ${outcome.exitCode} ${seconds}`;
  if (!outcome.completedAt) return run || 'no command ran';
  return run ? `completed; its last run ${run.replace(/^(abandoned|still|stopped)/, 'was $1')}` : 'completed';
}

export function describeOutcome(outcome: TaskOutcome): string {
  const lines = [
    `${outcome.name}: ${runText(outcome)}; ${outcome.commits} commit(s) on ${outcome.branch}${outcome.diffStat ? ` (${outcome.diffStat})` : ''}`,
    `on exit: ${outcome.onExit} -> ${outcome.result}${outcome.message ? `: ${outcome.message}` : ''}`,
  ];
  if (outcome.savedPatch) lines.push(`uncommitted changes saved to ${outcome.savedPatch}`);
  const branch = outcome.branchOutcome && describeBranchOutcome(outcome.branchOutcome, outcome.branch);
  if (branch) lines.push(branch);
  return `${lines.join('\n')}\n`;
}
