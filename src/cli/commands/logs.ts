import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerLogs(program: Command, { io }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('logs')
        .description("the agent's hook logs, its last task's output, or its egress proxy's decisions")
        .argument('<name>', 'the agent')
        .option('--hook <name>', 'one hook: setup, migrate, seed, teardown, post-teardown')
        .option('--task', "the last task run's output (each run keeps its own)")
        .option('--egress', "the egress proxy's decisions, one JSON line each"),
    ),
  ).action(
    async (
      name: string,
      options: { repo?: string; hook?: string; task?: boolean; egress?: boolean; json?: boolean },
    ) => {
      const { logTails, streamLogs } = await import('../../core/agent/logs.js');
      const request = {
        name,
        repo: options.repo,
        hook: options.hook,
        task: options.task,
        egress: options.egress,
      };
      if (options.json) return printResult(io, 'logs', await logTails(request));
      for await (const chunk of streamLogs(request)) await io.write(chunk);
    },
  );
}
