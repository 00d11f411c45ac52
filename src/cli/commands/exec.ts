import type { Command } from 'commander';
import { type CliContext, interruptible, withRepo } from './_shared.js';

export function registerExec(program: Command, { setExitCode }: CliContext): void {
  withRepo(
    program
      .command('exec')
      .description("run a command in the agent's container, as you, in its worktree")
      .argument('<name>', 'the agent')
      .argument('<command...>', 'the command, after --'),
  ).action(async (name: string, command: string[], options: { repo?: string }) => {
    const { execInAgent } = await import('../../core/agent/exec.js');
    setExitCode(await interruptible((signal) => execInAgent({ name, command, repo: options.repo, signal })));
  });
}
