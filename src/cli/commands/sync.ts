import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { type CliContext, interruptible, withJson, withRepo } from './_shared.js';

export function registerSync(program: Command, { io }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('sync')
        .description(
          "fetch, rebase the agent's branch on its base as this repository has it (a local branch with its local commits; pull it first to take its upstream's), and run the setup hooks again",
        )
        .argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: { repo?: string; json?: boolean }) => {
    const { sync } = await import('../../core/agent/sync.js');
    const result = await interruptible((signal) =>
      sync({ name, repo: options.repo, progress: progressTo(io), signal }),
    );
    if (options.json) return printResult(io, 'sync', result);
    const fetched = result.fetched ? ' (fetched first)' : '';
    const setup = result.setup.ran
      ? `; setup ran again (${result.setup.commands} command(s))`
      : '; no setup hooks to run';
    io.stdout(
      `${name}: ${result.branch} rebased on ${result.onto}${fetched}; ${result.commits} commit(s) of its own${setup}\n`,
    );
  });
}
