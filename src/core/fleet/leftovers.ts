import { join } from 'node:path';
import { exists, listDir, writeFile } from '../../adapters/files.js';
import { commitsAsPatches, deleteBranch, isLocalBranch, localBranches } from '../../adapters/git.js';
import type { AgentRecord } from '../../plan/agent.js';
import { keptByExitPolicy } from '../../plan/fleet.js';
import { liveSessions } from '../../plan/reap.js';
import type { Runtime } from '../../runtime.js';
import type { HostPaths } from '../../state/paths.js';
import { readState, withGitLock } from '../../state/store.js';
import { claimRemoval, removeAgent } from '../agent/remove.js';
import { openRepo, type RepoContext } from '../context.js';
import { gc } from '../gc.js';
import { readOutcome } from '../task/history.js';

/** The folder of branches fleet tasks work on: berth/<task>, the name of the result on the remote too. */
export const FLEET_BRANCHES = 'berth';

export interface Cleared {
  repo: string;
  target: string;
  what: 'agent' | 'branch' | 'gc';
  reason: string;
  savedPatch?: string;
}

/**
 * What a worker's earlier run on this host left: agents of tasks that never ended (their worker was
 * killed), their branches, and whatever gc finds. Uncommitted work and unpublished commits are saved
 * as patches first. An agent whose task ended and whose exit policy kept it stays.
 */
export async function clearLeftovers(
  paths: HostPaths,
  runtime: Partial<Runtime>,
  progress: (message: string) => void,
): Promise<Cleared[]> {
  const cleared: Cleared[] = [];
  for (const name of listDir(paths.fleetRepos)) {
    const root = join(paths.fleetRepos, name);
    if (!exists(join(root, '.git'))) continue;
    const context = await openRepo({ repo: root, runtime });
    for (const agent of Object.values(readState(context.berthDir).agents)) {
      if (keptOnPurpose(context, agent)) continue;
      const done = await clearAgent(
        context,
        agent.name,
        'its task did not end: the worker running it stopped',
      );
      if (done) cleared.push({ repo: root, ...done });
    }
    for (const branch of await localBranches(root, FLEET_BRANCHES)) {
      const done = await clearBranch(context, branch);
      if (done) cleared.push({ repo: root, ...done });
    }
    const swept = await gc({ repo: root, runtime });
    for (const action of swept.actions)
      cleared.push({
        repo: root,
        what: 'gc',
        target: `${action.kind} ${action.target}`,
        reason: action.reason,
      });
  }
  for (const item of cleared) progress(`cleared ${item.what} ${item.target} (${item.reason})`);
  return cleared;
}

/** A task that ended and whose exit policy kept its environment (for someone to look at). */
function keptOnPurpose(context: RepoContext, agent: AgentRecord): boolean {
  return agent.status === 'ready' && keptByExitPolicy(readOutcome(context, agent.name));
}

/** Removes an agent no live process uses, saving its uncommitted work. */
export async function clearAgent(
  context: RepoContext,
  name: string,
  reason: string,
): Promise<Omit<Cleared, 'repo'> | undefined> {
  const { isRunning } = context.runtime;
  const claimed = await claimRemoval(context, name, (fresh) => {
    const busy =
      liveSessions(fresh, { isRunning }).length > 0 ||
      (fresh.status === 'provisioning' && fresh.owner && isRunning(fresh.owner)) ||
      (fresh.status === 'removing' && fresh.removal && isRunning(fresh.removal.by));
    return busy ? undefined : reason;
  });
  if (!claimed) return undefined;
  const removed = await removeAgent(context, claimed);
  const branch = await clearBranch(context, claimed.branch);
  const savedPatch = removed.savedPatch ?? branch?.savedPatch;
  return { what: 'agent', target: name, reason, ...(savedPatch && { savedPatch }) };
}

/**
 * Deletes a fleet branch no agent works on, first saving as a patch the commits of it no remote
 * branch has (an attempt's published commits are on the remote's result branch already).
 */
export async function clearBranch(
  context: RepoContext,
  branch: string,
): Promise<Omit<Cleared, 'repo'> | undefined> {
  const root = context.root;
  const inUse = Object.values(readState(context.berthDir).agents).some((agent) => agent.branch === branch);
  if (inUse || !(await isLocalBranch(root, branch))) return undefined;
  return withGitLock(context.berthDir, async () => {
    const patches = await commitsAsPatches(root, branch);
    let savedPatch: string | undefined;
    if (patches) {
      savedPatch = context.paths.savedPatch(branch.replaceAll('/', '-'), context.runtime.now());
      writeFile(savedPatch, patches, 0o600);
    }
    await deleteBranch(root, branch);
    const reason = patches ? 'left by an attempt that did not publish' : 'published on the remote';
    return { what: 'branch' as const, target: branch, reason, ...(savedPatch && { savedPatch }) };
  });
}
