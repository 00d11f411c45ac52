import type { Command } from 'commander';
import { type CliContext, withRepo } from './_shared.js';

export function registerEnv(program: Command, { io }: CliContext): void {
  withRepo(
    program
      .command('env')
      .description("print the agent's env file (host view: 127.0.0.1 and leased ports)")
      .argument('<name>', 'the agent')
      .option('--container', 'the container view instead: services by name'),
  ).action(async (name: string, options: { repo?: string; container?: boolean }) => {
    const { agentEnvText } = await import('../../core/agent/exec.js');
    io.stdout(await agentEnvText({ name, repo: options.repo, container: options.container }));
  });
}
