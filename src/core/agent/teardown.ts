import { removeLabelled } from '../../adapters/docker.js';
import { isWorktreeFolder, uncommittedChanges } from '../../adapters/git.js';
import { BerthError, interrupted, isBerthError, messageOf } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { teardownRefusal, uncommittedRefusal } from '../../plan/claim.js';
import { agentLabels, validateAgentName } from '../../plan/names.js';
import { agentConfig, findAgent, openRepo, type RepoContext, type RepoOptions } from '../context.js';
import { runHooks } from './hooks.js';
import { type BranchOutcome, claimRemoval, type Removed, releaseClaim, removeAgent } from './remove.js';

export type { BranchOutcome, Removed };

export interface TeardownOptions extends RepoOptions {
  name: string;
  /**
   * Tear down even with uncommitted changes in the worktree, a failing teardown hook, or a command
   * running in it (uncommitted work is saved as a patch first).
   */
  force?: boolean;
  keepBranch?: boolean;
  progress?: (message: string) => void;
  /**
   * Ctrl-C, SIGTERM or SIGHUP to berth: a teardown hook it runs is stopped and the agent kept as it was;
   * a removal under way stops only where a program of the host runs (a `command:` secret resolved to
   * mask the saved patch), keeping the worktree and branch for `berth teardown` or `gc` to finish.
   */
  signal?: AbortSignal;
}

export interface TeardownResult {
  name: string;
  /** False when there was nothing to tear down (a second run). */
  removed: boolean;
  branch?: string;
  branchOutcome: BranchOutcome;
  worktree?: string;
  resources: Removed;
  /** Uncommitted work, saved before the worktree went. */
  savedPatch?: string;
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
    const changes = await uncommittedChanges({
      worktree: agent.worktree,
      commonGitDir: context.commonGitDir,
    });
    const refusal = uncommittedRefusal(name, agent.worktree, changes.length);
    if (refusal) throw refusal;
  }
  return removeWithHooks(context, agent, options, 'torn down by berth teardown');
}

/**
 * Claims the agent, runs its teardown hooks, removes it, then runs the post-teardown hooks on the host.
 * Refuses (removing nothing) while another berth process makes or removes it, or, unless forced, while a
 * command runs in it.
 */
export async function removeWithHooks(
  context: RepoContext,
  agent: AgentRecord,
  options: Pick<TeardownOptions, 'force' | 'keepBranch' | 'progress' | 'signal'>,
  reason: string,
): Promise<TeardownResult> {
  const { name } = agent;
  const progress = options.progress ?? (() => {});
  const { runtime } = context;
  let refusal: BerthError | undefined;
  const claimed = await claimRemoval(context, name, (fresh) => {
    refusal = teardownRefusal(fresh, runtime.isRunning, runtime.self(), options.force ?? false);
    return refusal ? undefined : reason;
  });
  if (refusal) throw refusal;
  if (!claimed)
    return {
      name,
      removed: false,
      branchOutcome: 'none',
      resources: { containers: 0, networks: 0, volumes: 0 },
    };

  const { hooks, hookTimeout } = agentConfig(context, claimed);
  const { signal } = options;
  try {
    await runHooks(context, claimed, 'teardown', hooks.teardown, { timeout: hookTimeout, signal });
    if (signal?.aborted) throw interrupted();
  } catch (error) {
    if (signal?.aborted) {
      await releaseClaim(context, name);
      const stopped = hooks.teardown.length > 0 ? '; its teardown hooks were stopped' : '';
      throw interrupted(`nothing of ${name} was removed${stopped}`);
    }
    if (!options.force) {
      await releaseClaim(context, name);
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
  // A signal now stops only a program the removal runs on the host; the rest of it finishes.
  const underWay = () => progress(`${name}: interrupted during its removal: what is under way finishes`);
  signal?.addEventListener('abort', underWay, { once: true });
  const { resources, branchOutcome, savedPatch } = await removeAgent(context, claimed, {
    keepBranch: options.keepBranch,
    progress,
    signal,
  })
    .finally(() => signal?.removeEventListener('abort', underWay))
    .catch((error) => {
      if (!signal?.aborted) throw error;
      const again = `berth teardown ${name}${options.force ? ' --force' : ''}`;
      throw interrupted(
        `the removal of ${name} stopped before its worktree went (its worktree and branch are kept): ${again} or berth gc finishes it, saving its uncommitted work as a patch first`,
      );
    });
  await runHooks(context, claimed, 'post-teardown', hooks['post-teardown'], {
    logDir: context.paths.historyLogs(name),
    timeout: hookTimeout,
    signal,
  }).catch((error) => {
    if (!signal?.aborted) throw error;
    throw interrupted(`${name} was removed; its post-teardown hooks were stopped`);
  });
  return {
    name,
    removed: true,
    branch: claimed.branch,
    branchOutcome,
    worktree: claimed.worktree,
    resources,
    ...(savedPatch && { savedPatch }),
  };
}
