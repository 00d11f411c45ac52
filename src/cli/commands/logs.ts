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
      let shown = false;
      for await (const chunk of streamLogs(request)) {
        shown = true;
        await io.write(chunk);
      }
      // No hook has written a log: say so, rather than print nothing (an empty egress log is just empty).
      if (!shown && !options.egress && !options.task)
        io.stdout(
          `${name}: no hook logs: no hook has run (none is configured in berth.yaml, or none was reached); berth logs ${name} --task shows its last task's output\n`,
        );
    },
  );
}
