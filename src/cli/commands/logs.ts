import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerLogs(program: Command, { io }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('logs')
        .description("the agent's hook logs, or its last task's output")
        .argument('<name>', 'the agent')
        .option('--hook <name>', 'one hook: setup, migrate, seed, teardown, post-teardown')
        .option('--task', "the last task run's output (each run keeps its own)"),
    ),
  ).action(
    async (name: string, options: { repo?: string; hook?: string; task?: boolean; json?: boolean }) => {
      const { logTails, streamLogs } = await import('../../core/agent/logs.js');
      const request = { name, repo: options.repo, hook: options.hook, task: options.task };
      if (options.json) return printResult(io, 'logs', await logTails(request));
      for await (const chunk of streamLogs(request)) await io.write(chunk);
    },
  );
}
