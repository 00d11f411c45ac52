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
    const { execInAgent } = await import('../../core/exec.js');
    setExitCode(await interruptible((signal) => execInAgent({ name, command, repo: options.repo, signal })));
  });

  withRepo(
    program
      .command('shell')
      .description("open a shell in the agent's container")
      .argument('<name>', 'the agent'),
  ).action(async (name: string, options: { repo?: string }) => {
    const { execInAgent, shellCommand } = await import('../../core/exec.js');
    setExitCode(await execInAgent({ name, command: shellCommand(), repo: options.repo }));
  });
}

export function registerEnv(program: Command, { io }: CliContext): void {
  withRepo(
    program
      .command('env')
      .description("print the agent's env file (host view: 127.0.0.1 and leased ports)")
      .argument('<name>', 'the agent')
      .option('--container', 'the container view instead: services by name'),
  ).action(async (name: string, options: { repo?: string; container?: boolean }) => {
    const { agentEnvText } = await import('../../core/exec.js');
    io.stdout(await agentEnvText({ name, repo: options.repo, container: options.container }));
  });
}
