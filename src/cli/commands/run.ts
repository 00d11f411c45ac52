import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { describeOutcome, exitPolicy } from './_outcome.js';
import { type CliContext, interruptible, withJson, withRepo } from './_shared.js';

interface Options {
  repo?: string;
  from?: string;
  config?: string;
  onExit?: string;
  json?: boolean;
}

export function registerRun(program: Command, { io, setExitCode }: CliContext): void {
  withJson(
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
    ),
  ).action(async (name: string, command: string[], options: Options) => {
    const { runTask } = await import('../../core/task/task.js');
    const onExit = exitPolicy(options.onExit);
    const entry = await interruptible((signal) =>
      runTask({
        name,
        command,
        repo: options.repo,
        from: options.from,
        configPath: options.config,
        onExit,
        progress: progressTo(io),
        signal,
        // With --json, stdout holds the one result object: the command's output goes to stderr.
        ...(options.json && { tty: false, echo: 'stderr' as const }),
      }),
    );
    if (options.json) printResult(io, 'run', entry);
    else if (entry.task) io.stderr(describeOutcome(entry.task).replace(/^(?=.)/gm, 'berth: '));
    setExitCode(entry.task?.exitCode ?? 0);
  });
}
