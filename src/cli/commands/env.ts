import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerEnv(program: Command, { io }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('env')
        .description("print the agent's variables as the host sees them (127.0.0.1 and leased ports)")
        .argument('<name>', 'the agent')
        .option(
          '--container',
          "the container's view instead: services by name (what the worktree's env file holds)",
        )
        .option('--show-secrets', 'with --json: passwords as they are'),
    ),
  ).action(
    async (
      name: string,
      options: { repo?: string; container?: boolean; json?: boolean; showSecrets?: boolean },
    ) => {
      const { agentEnvText, agentEnvView } = await import('../../core/agent/exec.js');
      const request = {
        name,
        repo: options.repo,
        container: options.container,
        showSecrets: options.showSecrets,
      };
      if (options.json) return printResult(io, 'env', await agentEnvView(request));
      io.stdout(await agentEnvText(request));
    },
  );
}
