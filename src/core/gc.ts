import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { listContainers, removeLabelled } from '../adapters/docker.js';
import { ensureDir, exists, removeTree, writeFile } from '../adapters/files.js';
import {
  branchMerged,
  branchTip,
  deleteBranch,
  isLocalBranch,
  isWorktreeFolder,
  listWorktrees,
  tipContainedElsewhere,
  uncommittedChanges,
  uncommittedPatch,
} from '../adapters/git.js';
import { isRunning } from '../adapters/proc.js';
import type { BerthConfig } from '../config/schema.js';
import type { AgentRecord } from '../plan/agent.js';
import { relative } from '../plan/duration.js';
import { AGENT_NAME_PATTERN, agentLabels, LABELS, worktreePath } from '../plan/names.js';
import { readState, updateState, withGitLock } from '../state/store.js';
import { loadRepoConfig, openRepo, type RepoContext, type RepoOptions } from './context.js';
import { archiveLogs } from './history.js';
import { leaseExpired } from './lease.js';
import { destroyAgent, dropWorktree } from './teardown.js';

export interface GcOptions extends RepoOptions {
  dryRun?: boolean;
  configPath?: string;
  progress?: (message: string) => void;
  now?: number;
}

export type GcKind = 'agent' | 'containers' | 'worktree' | 'folder' | 'branch';

export interface GcAction {
  kind: GcKind;
  target: string;
  reason: string;
  /** Where uncommitted work was saved before removal. */
  savedPatch?: string;
  /** An agent's branch kept because it holds unmerged commits. */
  keptBranch?: string;
}

export interface GcResult {
  dryRun: boolean;
  actions: GcAction[];
}

/**
 * Reconciles what exists with what berth knows, and removes what nobody needs: expired or orphaned
 * agents, merged agents, unclaimed labelled resources, worktrees, folders and branches berth made.
 * Never touches anything without berth's marks, and never loses a commit or an uncommitted change.
 */
export async function gc(options: GcOptions = {}): Promise<GcResult> {
  const context = await openRepo(options);
  const config = loadRepoConfig(context, options.configPath);
  const dryRun = options.dryRun ?? false;
  const progress = options.progress ?? (() => {});
  const actions: GcAction[] = [];
  const act = async (action: GcAction, work: () => Promise<Partial<GcAction> | undefined>) => {
    const done = dryRun ? action : { ...action, ...(await work()) };
    progress(`${dryRun ? 'would remove' : 'removed'} ${done.kind} ${done.target}: ${done.reason}`);
    actions.push(done);
  };

  for (const agent of Object.values(readState(context.berthDir).agents)) {
    const reason = await reapReason(context, agent, options.now ?? Date.now());
    if (reason) await act({ kind: 'agent', target: agent.name, reason }, () => reap(context, agent));
  }
  const claimed = new Set(Object.keys(readState(context.berthDir).agents));
  await sweepResources(context, claimed, act);
  await sweepWorktrees(context, config, claimed, act);
  await sweepBranches(context, claimed, act, dryRun);
  return { dryRun, actions };
}

type Act = (action: GcAction, work: () => Promise<Partial<GcAction> | undefined>) => Promise<void>;

async function reapReason(
  context: RepoContext,
  agent: AgentRecord,
  now: number,
): Promise<string | undefined> {
  if (agent.status === 'provisioning') {
    return agent.owner && !isRunning(agent.owner) ? 'its provision was killed part-way' : undefined;
  }
  if (leaseExpired(agent, now)) return `its lease expired ${relative(agent.lease.expiresAt, now)}`;
  if (await mergedAndClean(context, agent))
    return `its branch ${agent.branch} is merged into ${agent.baseRef}`;
  const containers = await listContainers(context.docker, agentLabels(context.repoId, agent.name));
  if (containers.length === 0 && !exists(agent.worktree)) return 'its containers and worktree are gone';
  return undefined;
}

/** An agent whose work has landed: it committed something, all of it is in its base, nothing uncommitted. */
async function mergedAndClean(context: RepoContext, agent: AgentRecord): Promise<boolean> {
  const tip = await branchTip(context.root, agent.branch);
  if (!tip || tip === agent.baseCommit) return false;
  if (!(await branchMerged(context.root, agent.branch, agent.baseRef))) return false;
  return isWorktreeFolder(agent.worktree) && (await uncommittedChanges(agent.worktree)).length === 0;
}

async function reap(context: RepoContext, agent: AgentRecord): Promise<Partial<GcAction>> {
  const savedPatch = isWorktreeFolder(agent.worktree)
    ? await saveUncommitted(context, agent.name, agent.worktree)
    : undefined;
  archiveLogs(context, agent);
  const { branchOutcome } = await destroyAgent(context, agent, false);
  return { savedPatch, keptBranch: branchOutcome === 'kept-unmerged' ? agent.branch : undefined };
}

/** Writes the worktree's uncommitted changes to .git/berth/saved/<name>-<time>.patch; none, nothing. */
export async function saveUncommitted(
  context: RepoContext,
  name: string,
  worktree: string,
): Promise<string | undefined> {
  if ((await uncommittedChanges(worktree)).length === 0) return undefined;
  const file = context.paths.savedPatch(name, Date.now());
  const index = join(dirname(file), `.${basename(file)}.index`);
  ensureDir(dirname(file));
  try {
    writeFile(file, await uncommittedPatch(worktree, index), 0o600);
    return file;
  } finally {
    removeTree(index);
  }
}

/** Containers, networks and volumes labelled for this repository by an agent berth no longer records. */
async function sweepResources(context: RepoContext, claimed: Set<string>, act: Act) {
  const labelled = await listContainers(context.docker, {
    [LABELS.managed]: 'true',
    [LABELS.repo]: context.repoId,
  });
  const networks = await context.docker.listNetworks({
    filters: { label: [`${LABELS.managed}=true`, `${LABELS.repo}=${context.repoId}`] },
  });
  const { Volumes } = await context.docker.listVolumes({
    filters: { label: [`${LABELS.managed}=true`, `${LABELS.repo}=${context.repoId}`] },
  });
  const owners = new Set([
    ...labelled.map((c) => c.labels[LABELS.agent]),
    ...networks.map((n) => n.Labels?.[LABELS.agent]),
    ...(Volumes ?? []).map((v) => v.Labels?.[LABELS.agent]),
  ]);
  for (const name of owners) {
    if (!name || claimed.has(name)) continue;
    await act(
      { kind: 'containers', target: name, reason: 'labelled by berth, claimed by no agent' },
      async () => {
        await removeLabelled(context.docker, agentLabels(context.repoId, name));
        return undefined;
      },
    );
  }
}

/** Worktrees berth locked for an agent that no longer exists, their stale records, and leftover folders. */
async function sweepWorktrees(context: RepoContext, config: BerthConfig, claimed: Set<string>, act: Act) {
  const worktrees = await listWorktrees(context.root);
  for (const entry of worktrees) {
    const owner = /^berth agent ([a-z][a-z0-9-]*)$/.exec(entry.lockReason ?? '')?.[1];
    if (!owner || claimed.has(owner)) continue;
    const reason = entry.prunable
      ? 'its folder is gone; berth locked it for a removed agent'
      : `berth made it for agent ${owner}, which no longer exists`;
    await act({ kind: 'worktree', target: entry.path, reason }, async () => {
      const savedPatch = isWorktreeFolder(entry.path)
        ? await saveUncommitted(context, owner, entry.path)
        : undefined;
      await withGitLock(context.berthDir, () => dropWorktree(context, entry.path));
      return { savedPatch };
    });
  }
  const folder = dirname(worktreePath(context.root, 'x', config.worktree.folder));
  if (!exists(folder)) return;
  const registered = new Set((await listWorktrees(context.root)).map((entry) => entry.path));
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (!AGENT_NAME_PATTERN.test(name) || claimed.has(name) || registered.has(path)) continue;
    await act(
      {
        kind: 'folder',
        target: path,
        reason: 'left in berth worktree folder, registered with no git worktree',
      },
      async () => {
        removeTree(path);
        return undefined;
      },
    );
  }
}

/** Branches berth created for agents that no longer exist, whose commits are all on other branches. */
async function sweepBranches(context: RepoContext, claimed: Set<string>, act: Act, dryRun: boolean) {
  const ledger = readState(context.berthDir).branches ?? {};
  const checkedOut = new Set((await listWorktrees(context.root)).map((entry) => entry.branch));
  for (const [branch, agent] of Object.entries(ledger)) {
    if (claimed.has(agent) || checkedOut.has(branch)) continue;
    const exists = await isLocalBranch(context.root, branch);
    const deletable = exists && (await tipContainedElsewhere(context.root, branch));
    if (exists && !deletable) continue; // it holds commits found nowhere else: never lost
    const reason = 'berth made it for a removed agent; its commits are all on other branches';
    if (exists) {
      await act({ kind: 'branch', target: branch, reason }, () =>
        withGitLock(context.berthDir, () => deleteBranch(context.root, branch)).then(() => undefined),
      );
    }
    if (!dryRun) await updateState(context.berthDir, (state) => void delete state.branches?.[branch]);
  }
}
