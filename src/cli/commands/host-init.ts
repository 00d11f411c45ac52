import type { Command } from 'commander';
import { type Io, printResult, progressTo } from '../output.js';

export function registerHostInit(host: Command, io: Io): void {
  host
    .command('init')
    .description('make this host ready: start the Docker engine, find Compose, get or build the images')
    .option(
      '--install',
      'install the engine, Compose and debootstrap from the OS packages (root, Debian/Ubuntu)',
    )
    .option('--json', 'print one JSON object')
    .action(async (options: { install?: boolean; json?: boolean }) => {
      const { hostInit } = await import('../../core/host/init.js');
      const result = await hostInit({ install: options.install ?? false, progress: progressTo(io) });
      if (options.json) return printResult(io, 'host init', result);
      const { engine, compose } = result;
      io.stdout(
        `engine   ${engine.outcome.padEnd(9)} Docker ${engine.version} (API ${engine.apiVersion}) at ${engine.endpoint}\n`,
      );
      io.stdout(
        `compose  ${compose.outcome.padEnd(9)} ${compose.variant} ${compose.version} (${compose.command.join(' ')})\n`,
      );
      for (const image of result.images) {
        const standIn =
          image.role === 'postgres-fast'
            ? ` (cluster initialised at build time, from ${image.official})`
            : image.role === 'egress'
              ? ` (Squid and socat from Debian's packages, on ${image.official})`
              : image.offline
                ? ` (offline stand-in for ${image.official})`
                : '';
        io.stdout(`image    ${image.outcome.padEnd(9)} ${image.role}: ${image.image}${standIn}\n`);
      }
      io.stdout(result.unchanged ? 'host ready, nothing changed\n' : 'host ready\n');
    });
}
