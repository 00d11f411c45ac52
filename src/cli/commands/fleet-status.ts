import type { Command } from 'commander';
import type { FleetStatus } from '../../core/fleet/status.js';
import { type Io, printResult } from '../output.js';
import { type CliContext, interruptible, queueOf, table, withJson, withQueue } from './_shared.js';

interface Options {
  queue?: string;
  watch?: boolean;
  json?: boolean;
}

export function registerFleetStatus(fleet: Command, { io }: CliContext): void {
  withJson(
    withQueue(
      fleet
        .command('status')
        .description('the queue: counts, hosts with their slots and tasks, and every task')
        .option('--watch', 'redraw as tasks move, until Ctrl-C; with --json, one object per line'),
    ),
  ).action(async (options: Options) => {
    const queue = queueOf(options, process.env);
    const { fleetStatus, watchFleet } = await import('../../core/fleet/status.js');
    if (!options.watch) {
      const status = await fleetStatus({ queue });
      return options.json ? printResult(io, 'fleet status', status) : io.stdout(render(status));
    }
    const tty = Boolean(process.stdout.isTTY) && !options.json;
    await interruptible((signal) =>
      watchFleet({ queue, signal }, (status) => {
        if (options.json) return printResult(io, 'fleet status --watch', status);
        io.stdout(`${tty ? '\x1b[H\x1b[2J' : ''}${render(status)}${tty ? '' : '\n'}`);
      }),
    );
  });
}

export function render(status: FleetStatus): string {
  const { counts } = status;
  const lines = [
    `waiting ${counts.waiting}  active ${counts.active}  delayed ${counts.delayed}  completed ${counts.completed}  failed ${counts.failed}  stalled ${counts.stalled}`,
    '',
    table([
      ['HOST', 'SLOTS', 'RUNNING', 'STATE'],
      ...status.hosts.map((h) => [h.name, String(h.slots), h.running.join(',') || '-', h.state]),
    ]),
    '',
    table([
      ['TASK', 'STATE', 'HOST', 'ATTEMPTS', 'STEP', 'EXIT', 'COMMITS', 'DURATION', 'REASON'],
      ...status.tasks.map((t) => [
        t.name,
        t.cancelled ? 'cancelled' : t.stalled ? 'stalled' : t.state,
        t.host ?? '-',
        String(t.attempts),
        t.step ?? '-',
        t.outcome?.exitCode === undefined || t.outcome?.exitCode === null ? '-' : String(t.outcome.exitCode),
        t.outcome ? String(t.outcome.commits) : '-',
        t.durationMs === null ? '-' : `${(t.durationMs / 1000).toFixed(1)} s`,
        t.failedReason ?? '',
      ]),
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

export type { Io };
