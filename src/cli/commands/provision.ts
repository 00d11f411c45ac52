import { resolve } from 'node:path';
import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { type CliContext, interruptible, withJson, withRepo } from './_shared.js';

interface Options {
  repo?: string;
  from?: string;
  branch?: string;
  config?: string;
  devcontainer?: string;
  json?: boolean;
  showSecrets?: boolean;
}

export function registerProvision(program: Command, { io }: CliContext): void {
  const command = program
    .command('provision')
    .description('give an agent its worktree, container, Postgres and Redis on a private network')
    .argument('<name>', 'lowercase letters, digits and hyphens, starting with a letter, at most 32')
    .option('--from <ref>', 'the commit the new branch starts from (default: HEAD)')
    .option('--branch <name>', 'the branch to work on (default: berth/<name>); an existing one is continued')
    .option('--config <file>', 'the config file (default: berth.yaml at the repository root)')
    .option(
      '--devcontainer <file>',
      'take the agent container from this devcontainer.json (default: .devcontainer/devcontainer.json when there is one)',
    )
    .option('--show-secrets', 'print passwords in URLs');
  withJson(withRepo(command)).action(async (name: string, options: Options) => {
    const { composeCommandLine, provision } = await import('../../core/agent/provision.js');
    const agent = await interruptible((signal) =>
      provision({
        name,
        repo: options.repo,
        from: options.from,
        branch: options.branch,
        configPath: options.config,
        ...(options.devcontainer && { devcontainer: resolve(options.devcontainer) }),
        progress: progressTo(io),
        signal,
        showSecrets: options.showSecrets,
      }),
    );
    if (options.json) return printResult(io, 'provision', { agent });
    io.stdout(`agent     ${agent.name} ${agent.state}\n`);
    io.stdout(`branch    ${agent.branch}\n`);
    io.stdout(`worktree  ${agent.worktree}\n`);
    io.stdout(`env file  ${agent.envFile} (the container's view; the host's: ${agent.hostEnvFile})\n`);
    io.stdout(`compose   ${await composeCommandLine(agent)}\n`);
    for (const [service, port] of Object.entries(agent.ports))
      io.stdout(`${service.padEnd(9)} 127.0.0.1:${port}\n`);
  });
}
