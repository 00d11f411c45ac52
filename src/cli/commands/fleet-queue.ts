import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { type CliContext, wholeNumber, withJson } from './_shared.js';

interface Options {
  port?: string;
  bind?: string;
  stop?: boolean;
  remove?: boolean;
  install?: boolean;
  json?: boolean;
}

export function registerFleetQueue(fleet: Command, { io }: CliContext): void {
  withJson(
    fleet
      .command('queue')
      .description("run the fleet's queue (Redis with a password and an append-only file) on this host")
      .option('--port <port>', 'the port to publish it on', '6379')
      .option(
        '--bind <address>',
        'the address to publish it on: 127.0.0.1, or a private interface (default: 127.0.0.1)',
      )
      .option('--stop', 'stop it, keeping its data')
      .option('--remove', 'remove a stopped queue and its data: container, volume (its tasks), password file')
      .option('--install', 'install the Docker engine from the OS packages if missing'),
  ).action(async (options: Options) => {
    const { fleetQueue } = await import('../../core/fleet/queue-host.js');
    const result = await fleetQueue({
      port: wholeNumber(options.port, '--port'),
      bind: options.bind,
      stop: options.stop,
      remove: options.remove,
      install: options.install,
      progress: progressTo(io),
    });
    if (options.json) return printResult(io, 'fleet queue', result);
    if (result.outcome === 'removed') {
      io.stdout(`queue on port ${result.port} removed, with its data\n`);
      return;
    }
    if (result.outcome === 'stopped' || result.outcome === 'not-running') {
      io.stdout(
        `queue ${result.outcome === 'stopped' ? 'stopped' : 'was not running'}; its data stays in the volume ${result.volume}\n`,
      );
      return;
    }
    io.stderr(
      `berth: queue ${result.outcome} on ${result.bind}:${result.port}; give workers this URL (it holds the password):\n`,
    );
    io.stdout(`${result.url}\n`);
  });
}
