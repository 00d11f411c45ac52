import type { Command } from 'commander';
import type { BranchOutcome } from '../../core/teardown.js';
import { printJson, progressTo } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

const BRANCH_MESSAGES: Record<BranchOutcome, (branch: string) => string> = {
  deleted: (b) => `branch ${b} was merged: deleted`,
  'kept-unmerged': (b) => `branch ${b} has unmerged commits: kept`,
  'kept-by-request': (b) => `branch ${b} kept (--keep-branch)`,
  'kept-not-created': (b) => `branch ${b} was not created by berth: kept`,
  none: () => '',
};

export function registerTeardown(program: Command, { io }: CliContext): void {
  const command = program
    .command('teardown')
    .description("remove an agent's containers, network, volumes, worktree and state; keep unmerged work")
    .argument('<name>', 'the agent')
    .option('--force', 'tear down even with uncommitted changes (they are lost)')
    .option('--keep-branch', 'keep the branch even when it is merged');
  withJson(withRepo(command)).action(
    async (
      name: string,
      options: { repo?: string; force?: boolean; keepBranch?: boolean; json?: boolean },
    ) => {
      const { teardown } = await import('../../core/teardown.js');
      const result = await teardown({ name, ...options, progress: progressTo(io) });
      if (options.json) return printJson(io, result);
      if (!result.removed) return io.stdout(`${name}: nothing to tear down\n`);
      io.stdout(`${name}: torn down\n`);
      const branchLine = BRANCH_MESSAGES[result.branchOutcome](result.branch ?? '');
      if (branchLine) io.stdout(`${branchLine}\n`);
    },
  );
}
