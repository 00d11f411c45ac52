import type { Command } from 'commander';
import { describeBranchOutcome } from '../../plan/branch.js';
import { printResult, progressTo } from '../output.js';
import { type CliContext, interruptible, withJson, withRepo } from './_shared.js';

export function registerTeardown(program: Command, { io }: CliContext): void {
  const command = program
    .command('teardown')
    .description("remove an agent's containers, network, volumes, worktree and state; keep unmerged work")
    .argument('<name>', 'the agent')
    .option(
      '--force',
      'tear down even with uncommitted changes (saved as a patch first), a failing teardown hook, or a command running in it',
    )
    .option('--keep-branch', 'keep the branch even when it is merged');
  withJson(withRepo(command)).action(
    async (
      name: string,
      options: { repo?: string; force?: boolean; keepBranch?: boolean; json?: boolean },
    ) => {
      const { teardown } = await import('../../core/agent/teardown.js');
      const result = await interruptible((signal) =>
        teardown({ name, ...options, progress: progressTo(io), signal }),
      );
      if (options.json) return printResult(io, 'teardown', result);
      if (!result.removed) return io.stdout(`${name}: nothing to tear down\n`);
      io.stdout(`${name}: torn down\n`);
      const branchLine = describeBranchOutcome(result.branchOutcome, result.branch ?? '');
      if (branchLine) io.stdout(`${branchLine}\n`);
    },
  );
}
