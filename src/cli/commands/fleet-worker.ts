import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { type CliContext, interruptible, queueOf, wholeNumber, withJson, withQueue } from './_shared.js';

interface Options {
  queue?: string;
  slots?: string;
  name?: string;
  config?: string;
  lockSeconds?: string;
  stalledSeconds?: string;
  maxStalled?: string;
  drainSeconds?: string;
  install?: boolean;
  allowHostHooks?: boolean;
  unfenced?: boolean;
  json?: boolean;
}

export function registerFleetWorker(fleet: Command, { io }: CliContext): void {
  withJson(
    withQueue(
      fleet
        .command('worker')
        .description('join the fleet: run tasks from the queue until SIGTERM, which drains')
        .option('--slots <n>', "tasks at once (default: what the host's cores and memory allow)")
        .option('--name <host>', "this host's name in the fleet (default: its hostname)")
        .option(
          '--config <file>',
          "this host's berth.yaml for every task (default: each repository's default branch's); its agent limits size the default --slots",
        )
        .option(
          '--allow-host-hooks',
          "let tasks' berth.yaml run commands on this host (on: host hooks, post-teardown); off by default",
        )
        .option(
          '--lock-seconds <s>',
          "how long a task's lock lasts unrenewed (a dead host's tasks run again after it)",
          '30',
        )
        .option('--stalled-seconds <s>', 'how often workers look for tasks whose lock ran out', '15')
        .option('--max-stalled <n>', 'how many dead hosts a task survives before it fails', '3')
        .option(
          '--drain-seconds <s>',
          'after SIGTERM, how long running tasks may finish before they go back',
          '60',
        )
        .option('--install', 'install the Docker engine and Compose from the OS packages if missing')
        .option(
          '--unfenced',
          'add no iptables rules keeping containers from the queue (another firewall does)',
        ),
    ),
  ).action(async (options: Options) => {
    const queue = queueOf(options, process.env);
    // Nothing this process starts needs the URL in its environment.
    delete process.env.BERTH_QUEUE_URL;
    const { fleetWorker } = await import('../../core/fleet/worker.js');
    const seconds = (value: string | undefined, flag: string) => {
      const n = wholeNumber(value, flag);
      return n === undefined ? undefined : n * 1000;
    };
    const lockMs = seconds(options.lockSeconds, '--lock-seconds');
    const stalledMs = seconds(options.stalledSeconds, '--stalled-seconds');
    const maxStalled = wholeNumber(options.maxStalled, '--max-stalled');
    const result = await interruptible((signal) =>
      fleetWorker({
        queue,
        slots: wholeNumber(options.slots, '--slots'),
        name: options.name,
        configPath: options.config,
        timings: {
          ...(lockMs !== undefined && { lockMs }),
          ...(stalledMs !== undefined && { stalledMs }),
          ...(maxStalled !== undefined && { maxStalled }),
        },
        drainGraceMs: seconds(options.drainSeconds, '--drain-seconds'),
        install: options.install,
        allowHostHooks: options.allowHostHooks,
        unfenced: options.unfenced,
        signal,
        progress: progressTo(io),
      }),
    );
    if (options.json) return printResult(io, 'fleet worker', result);
    io.stdout(
      `worker ${result.name} left the fleet: ${result.completed} completed, ${result.failed} failed, ${result.givenBack} given back, ${result.lost} lost, ${result.cancelled} cancelled\n`,
    );
  });
}
