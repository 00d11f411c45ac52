import { removeLabelled } from '../adapters/docker.js';
import { exists, removeTree } from '../adapters/files.js';
import {
  branchMerged,
  deleteBranch,
  forgetWorktree,
  isLocalBranch,
  isWorktreeFolder,
  listWorktrees,
  removeWorktree,
  uncommittedChanges,
} from '../adapters/git.js';
import { loadConfig } from '../config/load.js';
import { BerthError, isBerthError, messageOf } from '../errors.js';
import type { AgentRecord } from '../plan/agent.js';
import { agentLabels, validateAgentName } from '../plan/names.js';
import { updateState, withGitLock } from '../state/store.js';
import { findAgent, openRepo, type RepoContext, type RepoOptions } from './context.js';
import { archiveLogs } from './history.js';
import { runHooks } from './hooks.js';

export interface TeardownOptions extends RepoOptions {
  name: string;
  /** Tear down even with uncommitted changes in the worktree (they are lost). */
  force?: boolean;
  keepBranch?: boolean;
  progress?: (message: string) => void;
}

export type BranchOutcome = 'deleted' | 'kept-unmerged' | 'kept-by-request' | 'kept-not-created' | 'none';

export interface Removed {
  containers: number;
  networks: number;
  volumes: number;
}

export interface TeardownResult {
  name: string;
  /** False when there was nothing to tear down (a second run). */
  removed: boolean;
  branch?: string;
  branchOutcome: BranchOutcome;
  worktree?: string;
  resources: Removed;
}

/** Removes an agent's containers, network, volumes, worktree and state; keeps unmerged work. Idempotent. */
export async function teardown(options: TeardownOptions): Promise<TeardownResult> {
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  const agent = findAgent(context, name);
  if (!agent) {
    // Nothing recorded: still sweep what a killed provision may have left with this agent's labels.
    const resources = await removeLabelled(context.docker, agentLabels(context.repoId, name));
    const removed = resources.containers + resources.networks + resources.volumes > 0;
    return { name, removed, branchOutcome: 'none', resources };
  }

  if (isWorktreeFolder(agent.worktree) && !options.force) {
    const changes = await uncommittedChanges(agent.worktree);
    if (changes.length > 0) {
      throw new BerthError(
        'uncommitted-changes',
        `agent ${name} has ${changes.length} uncommitted change(s) in ${agent.worktree}`,
        { hint: `commit them (berth exec ${name} -- git commit -am …), or pass --force to discard them` },
      );
    }
  }
  return removeWithHooks(context, agent, options);
}

/** Teardown hooks, then removal, then post-teardown hooks on the host. */
export async function removeWithHooks(
  context: RepoContext,
  agent: AgentRecord,
  options: Pick<TeardownOptions, 'force' | 'keepBranch' | 'progress'>,
): Promise<TeardownResult> {
  const { name } = agent;
  const progress = options.progress ?? (() => {});
  const { hooks } = loadConfig(
    context.root,
    agent.configFile && exists(agent.configFile) ? agent.configFile : undefined,
  );
  try {
    await runHooks(context, agent, 'teardown', hooks.teardown);
  } catch (error) {
    if (!options.force) {
      throw new BerthError(
        'teardown-hook-failed',
        `${messageOf(error)}; the environment of ${name} was kept`,
        {
          hint: 'fix the hook (hooks.teardown in berth.yaml), or pass --force to remove the environment anyway',
          logFile: isBerthError(error) ? error.logFile : undefined,
        },
      );
    }
    progress(`${name}: ${messageOf(error)}; removing anyway (--force)`);
  }
  progress(`${name}: removing containers, network, volumes and worktree`);
  archiveLogs(context, agent);
  const { resources, branchOutcome } = await destroyAgent(context, agent, options.keepBranch ?? false);
  await runHooks(context, agent, 'post-teardown', hooks['post-teardown'], {
    logDir: context.paths.historyLogs(name),
  });
  return { name, removed: true, branch: agent.branch, branchOutcome, worktree: agent.worktree, resources };
}

/**
 * Removes everything of a recorded agent, the record last, so that a crash part-way leaves a record
 * that `berth gc` finishes. Uncommitted changes are lost: callers check or save them first.
 */
export async function destroyAgent(context: RepoContext, agent: AgentRecord, keepBranch: boolean) {
  // The stack goes by label through the Engine API (the same as `compose down -v`, faster, and it also
  // finds what a killed provision left before its compose file existed), while git removes the worktree.
  const [resources, branchOutcome] = await Promise.all([
    removeLabelled(context.docker, agentLabels(context.repoId, agent.name)),
    withGitLock(context.berthDir, async () => {
      await dropWorktree(context, agent.worktree);
      return settleBranch(context, agent, keepBranch);
    }),
  ]);
  await updateState(context.berthDir, (state) => {
    delete state.agents[agent.name];
    // Deleted, or kept for the user: either way berth no longer answers for the branch.
    if (state.branches) delete state.branches[agent.branch];
  });
  removeTree(agent.stateDir);
  return { resources, branchOutcome };
}

/** Removes a worktree berth made, whatever state a crash left it in: registered, half-made, or gone. */
export async function dropWorktree(context: RepoContext, path: string): Promise<void> {
  const registered = (await listWorktrees(context.root)).some((entry) => entry.path === path);
  if (registered && exists(path)) await removeWorktree(context.root, path);
  removeTree(path);
  forgetWorktree(context.commonGitDir, path);
}

/** Deletes the branch only when berth made it and its content is already in its base. */
async function settleBranch(context: RepoContext, agent: AgentRecord, keep: boolean): Promise<BranchOutcome> {
  if (keep) return 'kept-by-request';
  if (!agent.createdBranch) return 'kept-not-created';
  if (!(await isLocalBranch(context.root, agent.branch))) return 'none';
  if (!(await branchMerged(context.root, agent.branch, agent.baseRef))) return 'kept-unmerged';
  await deleteBranch(context.root, agent.branch);
  return 'deleted';
}
