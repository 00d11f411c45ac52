import type { Command } from 'commander';
import { type CliContext, withRepo } from './_shared.js';

export function registerLogs(program: Command, { io }: CliContext): void {
  withRepo(
    program
      .command('logs')
      .description("the agent's hook logs")
      .argument('<name>', 'the agent')
      .option('--hook <name>', 'one hook: setup, migrate, seed, teardown, post-teardown'),
  ).action(async (name: string, options: { repo?: string; hook?: string }) => {
    const { hookLogs } = await import('../../core/agent/show.js');
    for await (const chunk of hookLogs({ name, repo: options.repo, hook: options.hook }))
      await io.write(chunk);
  });
}
