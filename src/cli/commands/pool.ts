import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

interface Options {
  repo?: string;
  json?: boolean;
  config?: string;
}

export function registerPool(program: Command, { io }: CliContext): void {
  const pool = program
    .command('pool')
    .description('the warm pool: environments made ahead of agents (pool.size in berth.yaml)');

  withJson(
    withRepo(
      pool
        .command('fill')
        .description("bring the pool to pool.size for the repository's current base, one at a time")
        .option('--config <file>', 'a berth.yaml other than the repository`s'),
    ),
  ).action(async (options: Options) => {
    const { fillPool } = await import('../../core/agent/pool.js');
    const result = await fillPool({
      repo: options.repo,
      configPath: options.config,
      progress: progressTo(io),
    });
    if (options.json) return printResult(io, 'pool fill', result);
    io.stdout(
      `pool: ${result.ready} ready; made ${result.made.length}, removed ${result.removed.length} of an older base\n`,
    );
  });

  withJson(withRepo(pool.command('drain').description('remove every environment in the pool'))).action(
    async (options: Options) => {
      const { drainPool } = await import('../../core/agent/pool.js');
      const removed = await drainPool({ repo: options.repo });
      if (options.json) return printResult(io, 'pool drain', { removed });
      io.stdout(`pool: removed ${removed.length}\n`);
    },
  );
}
