import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, interruptible, withJson, withRepo } from './_shared.js';

export function registerExec(program: Command, { io, setExitCode }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('exec')
        .description("run a command in the agent's container, as you, in its worktree")
        .argument('<name>', 'the agent')
        .argument('<command...>', 'the command, after --'),
    ),
  ).action(async (name: string, command: string[], options: { repo?: string; json?: boolean }) => {
    const { execCaptured, execInAgent } = await import('../../core/agent/exec.js');
    if (!options.json) {
      setExitCode(
        await interruptible((signal) => execInAgent({ name, command, repo: options.repo, signal })),
      );
      return;
    }
    const result = await interruptible((signal) =>
      execCaptured({ name, command, repo: options.repo, signal }),
    );
    printResult(io, 'exec', result);
    setExitCode(result.exitCode);
  });
}
