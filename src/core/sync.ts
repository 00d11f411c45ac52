import { git, uncommittedChanges } from '../adapters/git.js';
import { BerthError } from '../errors.js';
import { validateAgentName } from '../plan/names.js';
import { withGitLock } from '../state/store.js';
import { loadRepoConfig, openRepo, type RepoOptions, requireAgent } from './context.js';
import { runHooks } from './hooks.js';

export interface SyncResult {
  name: string;
  branch: string;
  /** What the branch was rebased onto. */
  onto: string;
  fetched: boolean;
}

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
  const remotes = (await git(context.root, ['remote'])).stdout.trim();
  if (remotes) await git(context.root, ['fetch', '--all', '--prune', '--quiet']);
  const upstream = await git(
    context.root,
    ['rev-parse', '--abbrev-ref', '--verify', '-q', `${agent.baseRef}@{upstream}`],
    {
      allowFail: true,
    },
  );
  const onto = upstream.exitCode === 0 && upstream.stdout.trim() ? upstream.stdout.trim() : agent.baseRef;

  await withGitLock(context.berthDir, async () => {
    const rebase = await git(agent.worktree, ['rebase', '--end-of-options', onto], { allowFail: true });
    if (rebase.exitCode === 0) return;
    const conflicts = (
      await git(agent.worktree, ['diff', '--name-only', '--diff-filter=U'], { allowFail: true })
    ).stdout
      .split('\n')
      .filter(Boolean);
    await git(agent.worktree, ['rebase', '--abort'], { allowFail: true });
    throw new BerthError(
      'sync-conflict',
      `rebasing ${agent.branch} on ${onto} conflicts in ${conflicts.join(', ') || 'some files'}; the rebase was aborted, nothing changed`,
      { hint: 'resolve it by hand in the worktree (git rebase), or let the agent do it' },
    );
  });
  const config = loadRepoConfig(context, agent.configFile);
  await runHooks(context, agent, 'setup', config.hooks.setup, { timeout: config.hookTimeout });
  return { name: agent.name, branch: agent.branch, onto, fetched: Boolean(remotes) };
}
