import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, queueOf, wholeNumber, withJson, withQueue } from './_shared.js';

interface Options {
  queue?: string;
  wait?: string;
  json?: boolean;
}

export function registerFleetCancel(fleet: Command, { io }: CliContext): void {
  withJson(
    withQueue(
      fleet
        .command('cancel')
        .description(
          'cancel a task: a waiting one leaves the queue; a running one is stopped on its host, its work saved as patches there',
        )
        .argument('<id>', "the task's id")
        .option('--wait <s>', 'how long to wait for the host running it to stop it', '60'),
    ),
  ).action(async (id: string, options: Options) => {
    const queue = queueOf(options, process.env);
    const { fleetCancel } = await import('../../core/fleet/cancel.js');
    const wait = wholeNumber(options.wait, '--wait', 0);
    const result = await fleetCancel({ queue, name: id, ...(wait !== undefined && { waitMs: wait * 1000 }) });
    if (options.json) return printResult(io, 'fleet cancel', result);
    const on = result.host ? ` on ${result.host}` : '';
    const said = {
      removed: `${id}: removed from the queue`,
      cancelled: `${id}: stopped${on} and recorded as cancelled; its work is saved as patches there`,
      cancelling: `${id}: asked to stop; the host running it${on} has not done so yet (any host that takes it cancels it)`,
      'already-completed': `${id}: it had completed; nothing to cancel`,
      'already-failed': `${id}: it had failed; nothing to cancel`,
    }[result.outcome];
    io.stdout(`${said}\n`);
  });
}
