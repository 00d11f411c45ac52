import type { Command } from 'commander';
import { progressTo } from '../output.js';
import { describeOutcome, exitPolicy } from './_outcome.js';
import { type CliContext, interruptible, withRepo } from './_shared.js';

export function registerRun(program: Command, { io, setExitCode }: CliContext): void {
  withRepo(
    program
      .command('run')
      .description(
        'run an agent command in its environment (provisioned if needed), then apply the exit policy',
      )
      .argument('<name>', 'the agent')
      .argument('<command...>', 'the agent command, after --')
      .option('--from <ref>', 'the commit a new branch starts from (default: HEAD)')
      .option('--config <file>', 'the config file (default: berth.yaml at the repository root)')
      .option('--on-exit <policy>', 'keep | teardown | teardown-if-merged (default: keep)'),
  ).action(
    async (
      name: string,
      command: string[],
      options: { repo?: string; from?: string; config?: string; onExit?: string },
    ) => {
      const { runTask } = await import('../../core/task/run.js');
      const onExit = exitPolicy(options.onExit);
      const outcome = await interruptible((signal) =>
        runTask({
          name,
          command,
          repo: options.repo,
          from: options.from,
          configPath: options.config,
          onExit,
          progress: progressTo(io),
          signal,
        }),
      );
      io.stderr(
        describeOutcome(outcome)
          .replace(/^/gm, 'berth: ')
          .replace(/berth: $/, ''),
      );
      setExitCode(outcome.exitCode ?? 0);
    },
  );
}
