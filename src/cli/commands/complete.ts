import type { Command } from 'commander';
import { printJson, progressTo } from '../output.js';
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
    const { completeTask } = await import('../../core/task/run.js');
    const outcome = await completeTask({
      name,
      repo: options.repo,
      onExit: exitPolicy(options.onExit),
      progress: progressTo(io),
    });
    if (options.json) return printJson(io, outcome);
    io.stdout(describeOutcome(outcome));
    if (outcome.result === 'teardown-failed') setExitCode(1);
  });
}
