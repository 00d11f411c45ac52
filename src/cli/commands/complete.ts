import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { describeOutcome, exitPolicy } from './_outcome.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerComplete(program: Command, { io, setExitCode }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('complete')
        .description("mark an agent's task complete from outside, and apply the exit policy")
        .argument('<name>', 'the agent')
        .option('--on-exit <policy>', 'keep | teardown | teardown-if-merged (default: keep)'),
    ),
  ).action(async (name: string, options: { repo?: string; onExit?: string; json?: boolean }) => {
    const { completeTask } = await import('../../core/task/task.js');
    const entry = await completeTask({
      name,
      repo: options.repo,
      onExit: exitPolicy(options.onExit),
      progress: progressTo(io),
    });
    if (options.json) printResult(io, 'complete', entry);
    else if (entry.task) io.stdout(describeOutcome(entry.task));
    if (entry.task?.result === 'teardown-failed') setExitCode(1);
  });
}
