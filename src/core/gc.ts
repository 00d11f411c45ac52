import { dirname, join } from 'node:path';
import { type LabelledResources, listContainers, listLabelled, removeResources } from '../adapters/docker.js';
import { exists, listDir, removeTree } from '../adapters/files.js';
import {
  branchFacts,
  deleteBranch,
  isLocalBranch,
  isWorktreeFolder,
  listWorktrees,
  tipContainedElsewhere,
} from '../adapters/git.js';
import type { BerthConfig } from '../config/schema.js';
import type { AgentRecord } from '../plan/agent.js';
import { branchAgent, branchStanding } from '../plan/branch.js';
import {
  AGENT_NAME_PATTERN,
  LABELS,
  parseWorktreeLockReason,
  repoLabels,
  stackOwner,
  worktreePath,
} from '../plan/names.js';
import { type PoolMember, removalReason } from '../plan/pool.js';
import { claims, leaseUnheld, needsMergeFacts, type ReapFacts, reapReason } from '../plan/reap.js';
import { type Leases, readLeases, updateLeases } from '../state/leases.js';
import { repositoryOf } from '../state/paths.js';
import { readState, updateState, withGitLock } from '../state/store.js';
import { removeMembers } from './agent/pool.js';
import { claimRemoval, dropWorktree, removeAgent } from './agent/remove.js';
import { saveUncommitted } from './agent/saved-work.js';
import { loadRepoConfig, openRepo, type RepoContext, type RepoOptions } from './context.js';
import { sweepImages } from './gc-images.js';

export interface GcOptions extends RepoOptions {
  dryRun?: boolean;
  /** Reap merged agents even while their lease is live (their uncommitted work is saved first). */
  merged?: boolean;
  configPath?: string;
  progress?: (message: string) => void;
}

export type GcKind = 'agent' | 'containers' | 'worktree' | 'folder' | 'branch' | 'lease' | 'image' | 'pool';

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

/** A lease younger than this may belong to a provision that has not written its record yet. */
const LEASE_GRACE_MS = 120_000;

/**
 * Reconciles what exists with what berth knows, and removes what nobody needs: agents whose lease
 * expired or whose provision or removal was killed, merged agents (with --merged), unclaimed labelled
 * resources, worktrees, folders and branches berth made, and host leases nobody holds. Every decision
 * is made again on a fresh read under the lock before anything is removed; an agent in use is never
 * reaped; uncommitted work is saved first.
 */
export async function gc(options: GcOptions = {}): Promise<GcResult> {
  // The moment leases are judged at is the runtime's clock: tests inject one.
  const context = await openRepo(options);
  const config = loadRepoConfig(context, options.configPath);
  const dryRun = options.dryRun ?? false;
  const progress = options.progress ?? (() => {});
  const actions: GcAction[] = [];
  const report = (action: GcAction) => {
    progress(`${dryRun ? 'would remove' : 'removed'} ${action.kind} ${action.target}: ${action.reason}`);
    actions.push(action);
  };

  await reapAgents(context, options, dryRun, report);
  await sweepPool(context, dryRun, report, progress);
  await sweepResources(context, dryRun, report, progress);
  await withGitLock(context.berthDir, async () => {
    await sweepWorktrees(context, config, dryRun, report);
    await sweepBranches(context, options.merged ?? false, dryRun, report);
  });
  await sweepLeases(context, dryRun, report);
  await sweepImages(context, config, dryRun, report);
  return { dryRun, actions };
}

type Report = (action: GcAction) => void;
type Progress = (message: string) => void;

/**
 * Pool members whose making or removal was killed part-way: their stacks, records and leases. Never a
 * ready member (the pool's, for a provision to adopt) nor one a live process makes or removes.
 */
async function sweepPool(context: RepoContext, dryRun: boolean, report: Report, progress: Progress) {
  const decide = (member: PoolMember) => removalReason(member, { kind: 'gc' }, context.runtime);
  if (dryRun) {
    for (const member of Object.values(readState(context.berthDir).pool ?? {})) {
      const reason = decide(member);
      if (reason) report({ kind: 'pool', target: member.id, reason });
    }
    return;
  }
  const { removed, failed } = await removeMembers(context, decide);
  for (const { id, reason } of removed) report({ kind: 'pool', target: id, reason });
  for (const failure of failed) progress(`${failure}; berth gc tries again next time`);
}

async function reapAgents(context: RepoContext, options: GcOptions, dryRun: boolean, report: Report) {
  const { runtime } = context;
  const agents = Object.values(readState(context.berthDir).agents);
  const containers = await listContainers(context.docker, repoLabels(context.repoId));
  for (const agent of agents) {
    const facts: ReapFacts = {
      now: runtime.now(),
      isRunning: runtime.isRunning,
      merged: needsMergeFacts(agent, options) ? await mergedWork(context, agent) : undefined,
      stackGone: !containers.some((c) => c.labels[LABELS.agent] === stackOwner(agent)),
      worktreeGone: !exists(agent.worktree),
    };
    // Git's and Docker's facts were read before; the record, the lease and the processes are read
    // again under the lock, and the decision made again on them.
    const decide = (fresh: AgentRecord) =>
      fresh.instance === agent.instance
        ? reapReason(fresh, { ...facts, now: runtime.now() }, options)?.text
        : undefined;
    if (dryRun) {
      const fresh = readState(context.berthDir).agents[agent.name];
      const reason = fresh && decide(fresh);
      if (reason) report({ kind: 'agent', target: agent.name, reason });
      continue;
    }
    const claimed = await claimRemoval(context, agent.name, decide);
    if (!claimed) continue;
    const { branchOutcome, savedPatch } = await removeAgent(context, claimed);
    report({
      kind: 'agent',
      target: agent.name,
      reason: claimed.removal?.reason ?? '',
      ...(savedPatch && { savedPatch }),
      ...(branchOutcome === 'kept-unmerged' && { keptBranch: claimed.branch }),
    });
  }
}

/** The branch has commits of its own, and they are in its base (plan/branch.ts decides). */
async function mergedWork(context: RepoContext, agent: AgentRecord): Promise<boolean> {
  const facts = await branchFacts(context.root, agent.branch, agent.baseCommit, agent.baseRef);
  return branchStanding(facts) === 'merged';
}

/**
 * Containers, networks and volumes labelled for this repository that no recorded agent claims. The
 * state is read after the listing: whatever a provision made since is claimed by its record already,
 * and the earlier agent of the same name is told apart by its instance label.
 */
async function sweepResources(context: RepoContext, dryRun: boolean, report: Report, progress: Progress) {
  const listed = await listLabelled(context.docker, repoLabels(context.repoId));
  const state = readState(context.berthDir);
  const unclaimed = (labels: Record<string, string>) =>
    Boolean(labels[LABELS.agent]) &&
    !claims(state, { agent: labels[LABELS.agent] ?? '', instance: labels[LABELS.instance] });
  const orphans: LabelledResources = {
    containers: listed.containers.filter((r) => unclaimed(r.labels)),
    networks: listed.networks.filter((r) => unclaimed(r.labels)),
    volumes: listed.volumes.filter((r) => unclaimed(r.labels)),
  };
  const ownerOf = (r: { labels: Record<string, string> }) => r.labels[LABELS.agent] ?? '';
  const owners = new Set([...orphans.containers, ...orphans.networks, ...orphans.volumes].map(ownerOf));
  // What the engine would not remove (a network something joined since it was listed) stays, said.
  const kept = dryRun ? [] : await removeResources(context.docker, orphans);
  for (const left of kept) {
    owners.delete(ownerOf(left));
    progress(
      `left ${left.kind} ${left.id.slice(0, 12)} of ${ownerOf(left)}: ${left.reason}; berth gc tries again next time`,
    );
  }
  for (const name of [...owners].sort()) {
    report({ kind: 'containers', target: name, reason: 'labelled by berth, claimed by no agent' });
  }
}

/**
 * Worktrees berth locked for an agent that no longer exists, their stale records, and leftover folders.
 * Runs under the git lock, with the state read inside it: a provision adds its worktree under the same
 * lock, after recording its agent.
 */
async function sweepWorktrees(context: RepoContext, config: BerthConfig, dryRun: boolean, report: Report) {
  const worktrees = await listWorktrees(context.root);
  const state = readState(context.berthDir);
  const { agents } = state;
  for (const entry of worktrees) {
    const owner = parseWorktreeLockReason(entry.lockReason);
    if (!owner || claims(state, owner) || Object.values(agents).some((a) => a.worktree === entry.path))
      continue;
    const reason = entry.prunable
      ? 'its folder is gone; berth locked it for a removed agent'
      : `berth made it for agent ${owner.agent}, which no longer exists`;
    let savedPatch: string | undefined;
    if (!dryRun) {
      savedPatch = isWorktreeFolder(entry.path)
        ? await saveUncommitted(context, owner.agent, entry.path)
        : undefined;
      await dropWorktree(context, entry.path);
    }
    report({ kind: 'worktree', target: entry.path, reason, ...(savedPatch && { savedPatch }) });
  }
  const folder = dirname(worktreePath(context.root, 'x', config.worktree.folder));
  if (!exists(folder)) return;
  const registered = new Set((await listWorktrees(context.root)).map((entry) => entry.path));
  const names = listDir(folder);
  // Read after the listing: a provision records its agent before it makes the folder (outside the git
  // lock, so the stack can mount it while git adds the worktree): any folder listed is claimed by now.
  const current = readState(context.berthDir).agents;
  const recorded = new Set(Object.values(current).map((a) => a.worktree));
  for (const name of names) {
    const path = join(folder, name);
    if (!AGENT_NAME_PATTERN.test(name) || current[name] || registered.has(path) || recorded.has(path))
      continue;
    if (!dryRun) removeTree(path);
    report({
      kind: 'folder',
      target: path,
      reason: 'left in berth worktree folder, registered with no git worktree',
    });
  }
}

/**
 * Branches berth created for agents that no longer exist: those whose commits are all on other branches,
 * and with --merged those kept for unmerged work that is merged now. Runs under the git lock: no
 * provision creates or checks out a branch meanwhile.
 */
async function sweepBranches(context: RepoContext, merged: boolean, dryRun: boolean, report: Report) {
  const { agents, branches = {} } = readState(context.berthDir);
  const checkedOut = new Set((await listWorktrees(context.root)).map((entry) => entry.branch));
  const inUse = new Set(Object.values(agents).map((a) => a.branch));
  for (const [branch, entry] of Object.entries(branches)) {
    const agent = branchAgent(entry);
    if (agents[agent] || inUse.has(branch) || checkedOut.has(branch)) continue;
    const exists = await isLocalBranch(context.root, branch);
    const reason = !exists
      ? undefined
      : (await tipContainedElsewhere(context.root, branch))
        ? 'berth made it for a removed agent; its commits are all on other branches'
        : merged &&
            typeof entry !== 'string' &&
            branchStanding(await branchFacts(context.root, branch, entry.start, entry.base)) === 'merged'
          ? `kept for its unmerged work when agent ${agent} went; merged into ${entry.base} since`
          : undefined;
    if (exists && !reason) continue; // commits found nowhere else: the user's to keep
    if (reason) {
      if (!dryRun) await deleteBranch(context.root, branch);
      report({ kind: 'branch', target: branch, reason });
    }
    if (!dryRun) {
      await updateState(context.berthDir, (state) => {
        if (!state.agents[agent]) delete state.branches?.[branch];
      });
    }
  }
}

/** Host leases whose holder's record is gone (a process killed between lease and record, or older berth). */
async function sweepLeases(context: RepoContext, dryRun: boolean, report: Report) {
  const { runtime } = context;
  const held = (lease: { berthDir: string; agent: string; instance: string }) => {
    try {
      return claims(readState(lease.berthDir), lease);
    } catch {
      return true; // a state berth cannot read: keep its leases rather than guess
    }
  };
  const release = (leases: Leases) => {
    const released: string[] = [];
    for (const [kind, table] of [
      ['port', leases.ports],
      ['subnet', leases.subnets],
    ] as const) {
      for (const [key, lease] of Object.entries(table)) {
        if (!leaseUnheld(lease.since, held(lease), runtime.now(), LEASE_GRACE_MS)) continue;
        if (!dryRun) delete table[key];
        released.push(`${kind} ${key}`);
        report({
          kind: 'lease',
          target: `${kind} ${key}`,
          reason: `leased to agent ${lease.agent} of ${repositoryOf(lease.berthDir)}, whose record is gone`,
        });
      }
    }
    return released;
  };
  if (dryRun) release(structuredClone(readLeases(runtime.env)));
  else await updateLeases(release, runtime.env);
}
