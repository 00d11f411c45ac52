import type { Command } from 'commander';
import { type CliContext, withRepo } from './_shared.js';

export function registerShell(program: Command, { setExitCode }: CliContext): void {
  withRepo(
    program
      .command('shell')
      .description("open a shell in the agent's container")
      .argument('<name>', 'the agent'),
  ).action(async (name: string, options: { repo?: string }) => {
    const { execInAgent, shellCommand } = await import('../../core/agent/exec.js');
    setExitCode(await execInAgent({ name, command: shellCommand(), repo: options.repo }));
  });
}
