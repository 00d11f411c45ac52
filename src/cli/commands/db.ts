import type { Command } from 'commander';
import type { DbResult } from '../../core/agent/db.js';
import { printResult, progressTo } from '../output.js';
import { type CliContext, interruptible, withJson, withRepo } from './_shared.js';

interface Options {
  repo?: string;
  json?: boolean;
  as?: string;
  force?: boolean;
}

export function registerDb(program: Command, { io }: CliContext): void {
  const db = program.command('db').description("an agent's database: reset, snapshot, restore");
  const said = (result: DbResult, what: string) =>
    io.stdout(
      `${result.agent}: ${what} in ${(result.durationMs / 1000).toFixed(1)} s; connections to it were dropped\n`,
    );

  withJson(
    withRepo(
      db
        .command('reset')
        .description("back to the database the agent started with (its base's template)")
        .argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: Options) => {
    const { dbReset } = await import('../../core/agent/db.js');
    const result = await interruptible((signal) =>
      dbReset({ name, repo: options.repo, signal, progress: progressTo(io) }),
    );
    if (options.json) return printResult(io, 'db reset', result);
    said(
      result,
      result.reseeded ? 'database made anew, migrated and seeded' : 'database reset to its template',
    );
  });

  withJson(
    withRepo(
      db
        .command('snapshot')
        .description("save the agent's database as it is now")
        .argument('<name>', 'the agent')
        .option('--as <label>', 'the snapshot`s label (default: the time)')
        .option('--force', 'replace the agent`s snapshot of that label'),
    ),
  ).action(async (name: string, options: Options) => {
    const { dbSnapshot } = await import('../../core/agent/db.js');
    const result = await interruptible((signal) =>
      dbSnapshot({
        name,
        repo: options.repo,
        label: options.as,
        force: options.force,
        signal,
        progress: progressTo(io),
      }),
    );
    if (options.json) return printResult(io, 'db snapshot', result);
    said(result, `database saved as snapshot ${result.label}`);
  });

  withJson(
    withRepo(
      db
        .command('restore')
        .description('put the agent`s database back to one of its snapshots')
        .argument('<name>', 'the agent')
        .argument('<label>', 'the snapshot'),
    ),
  ).action(async (name: string, label: string, options: Options) => {
    const { dbRestore } = await import('../../core/agent/db.js');
    const result = await interruptible((signal) =>
      dbRestore({ name, label, repo: options.repo, signal, progress: progressTo(io) }),
    );
    if (options.json) return printResult(io, 'db restore', result);
    said(result, `database restored from snapshot ${label}`);
  });

  withJson(
    withRepo(
      db.command('snapshots').description('the snapshots an agent took').argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: Options) => {
    const { dbSnapshots } = await import('../../core/agent/db.js');
    const snapshots = await dbSnapshots({ name, repo: options.repo });
    if (options.json) return printResult(io, 'db snapshots', { name, snapshots });
    for (const s of snapshots) io.stdout(`${s.label}\t${s.createdAt}\n`);
    if (snapshots.length === 0) io.stdout(`${name}: no snapshots\n`);
  });
}
