import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, interruptible, queueOf, wholeNumber, withJson, withQueue } from './_shared.js';

interface Options {
  queue?: string;
  timeout?: string;
  json?: boolean;
}

export function registerFleetWait(fleet: Command, { io, setExitCode }: CliContext): void {
  withJson(
    withQueue(
      fleet
        .command('wait')
        .description('block until no task is waiting or running; exit 1 if any failed')
        .option('--timeout <s>', 'give up after this many seconds (exit 1)'),
    ),
  ).action(async (options: Options) => {
    const queue = queueOf(options, process.env);
    const { fleetWait } = await import('../../core/fleet/status.js');
    const timeout = wholeNumber(options.timeout, '--timeout');
    const result = await interruptible((signal) =>
      fleetWait({ queue, signal, ...(timeout !== undefined && { timeoutMs: timeout * 1000 }) }),
    );
    if (result.failed.length > 0) setExitCode(1);
    if (options.json) return printResult(io, 'fleet wait', result);
    const { counts } = result;
    io.stdout(
      `${counts.completed} completed, ${counts.failed} failed${result.failed.length ? `: ${result.failed.join(', ')}` : ''}\n`,
    );
  });
}
