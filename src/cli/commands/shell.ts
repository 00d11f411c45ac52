import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerShell(program: Command, { io, setExitCode }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('shell')
        .description("open a shell in the agent's container")
        .argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: { repo?: string; json?: boolean }) => {
    const { execInAgent, shellCommand } = await import('../../core/agent/exec.js');
    const exitCode = await execInAgent({ name, command: shellCommand(), repo: options.repo });
    if (options.json) printResult(io, 'shell', { name, exitCode });
    setExitCode(exitCode);
  });
}
