import {
  branchTip,
  fetchAll,
  hasRemotes,
  rebaseOrAbort,
  uncommittedChanges,
  upstreamOf,
} from '../../adapters/git.js';
import type { ResultOf } from '../../contract.js';
import { BerthError } from '../../errors.js';
import { validateAgentName } from '../../plan/names.js';
import { withGitLock } from '../../state/store.js';
import { agentConfig, openRepo, type RepoOptions, requireAgent } from '../context.js';
import { branchWork } from './branch-work.js';
import { runHooks } from './hooks.js';

export type SyncResult = ResultOf<'sync'>;

/**
 * Brings an agent's branch up to date: fetch, rebase on its base (its upstream when it has one), and
 * the setup hooks again. Refuses on a dirty worktree; on a conflict, aborts the rebase and says where.
 */
export async function sync(
  options: RepoOptions & { name: string; configPath?: string },
): Promise<SyncResult> {
  const context = await openRepo(options);
  const agent = requireAgent(context, validateAgentName(options.name));
  const dirty = await uncommittedChanges(agent.worktree);
  if (dirty.length > 0) {
    throw new BerthError(
      'sync-dirty',
      `agent ${agent.name} has ${dirty.length} uncommitted change(s); nothing was changed`,
      {
        hint: `commit or stash them first (berth exec ${agent.name} -- git stash)`,
      },
    );
  }
  const fetched = await hasRemotes(context.root);
  if (fetched) await fetchAll(context.root);
  const onto = (await upstreamOf(context.root, agent.baseRef)) ?? agent.baseRef;
  const from = (await branchTip(context.root, agent.branch)) ?? '';
  await withGitLock(context.berthDir, async () => {
    const rebase = await rebaseOrAbort(agent.worktree, onto);
    if (rebase.ok) return;
    throw new BerthError(
      'sync-conflict',
      `rebasing ${agent.branch} on ${onto} conflicts in ${rebase.conflicts.join(', ') || 'some files'}; the rebase was aborted, nothing changed`,
      { hint: 'resolve it by hand in the worktree (git rebase), or let the agent do it' },
    );
  });
  const config = agentConfig(context, agent);
  await runHooks(context, agent, 'setup', config.hooks.setup, { timeout: config.hookTimeout });
  return {
    name: agent.name,
    branch: agent.branch,
    onto,
    fetched,
    rebased: { from, to: (await branchTip(context.root, agent.branch)) ?? '' },
    commits: (await branchWork(context, agent)).commits,
    setup: { ran: config.hooks.setup.length > 0, commands: config.hooks.setup.length },
  };
}
