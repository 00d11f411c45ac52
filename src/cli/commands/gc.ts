import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerGc(program: Command, { io }: CliContext): void {
  const command = program
    .command('gc')
    .description(
      'remove what crashed or finished agents left: expired, merged or orphaned agents and resources',
    )
    .option('--dry-run', 'say what would be removed, and change nothing')
    .option(
      '--merged',
      'also remove merged agents that have not expired yet (uncommitted work is saved first)',
    )
    .option('--config <file>', 'the config file (default: berth.yaml at the repository root)');
  withJson(withRepo(command)).action(
    async (options: {
      repo?: string;
      dryRun?: boolean;
      merged?: boolean;
      json?: boolean;
      config?: string;
    }) => {
      const { gc } = await import('../../core/gc.js');
      const result = await gc({
        repo: options.repo,
        dryRun: options.dryRun,
        merged: options.merged,
        configPath: options.config,
      });
      if (options.json) return printResult(io, 'gc', result);
      const verb = result.dryRun ? 'would remove' : 'removed';
      for (const action of result.actions) {
        const extras = [
          action.savedPatch && `uncommitted changes saved to ${action.savedPatch}`,
          action.keptBranch && `branch ${action.keptBranch} kept: it has unmerged commits`,
        ].filter(Boolean);
        io.stdout(
          `${verb} ${action.kind} ${action.target}: ${action.reason}${extras.length ? ` (${extras.join('; ')})` : ''}\n`,
        );
      }
      if (result.actions.length === 0) io.stdout('nothing to collect\n');
    },
  );
}
