import { pauseLabelled, removeContainers, removeLabelled, stopLabelled } from '../../adapters/docker.js';
import { exists, removeTree } from '../../adapters/files.js';
import {
  branchFacts,
  deleteBranch,
  forgetWorktree,
  isWorktreeFolder,
  listWorktrees,
  removeWorktree,
} from '../../adapters/git.js';
import type { AgentRecord } from '../../plan/agent.js';
import { type BranchOutcome, branchAgent, branchStanding, settleBranch } from '../../plan/branch.js';
import { haltByPause } from '../../plan/claim.js';
import { SERVICE_LABEL, serviceLabels, stackLabels, stackOwner } from '../../plan/names.js';
import { leasesDir, releaseLeases, updateLeasesIn } from '../../state/leases.js';
import { updateState, withGitLock } from '../../state/store.js';
import { agentConfig, type RepoContext } from '../context.js';
import { archiveLogs } from '../task/history.js';
import { saveUncommitted } from './saved-work.js';
import { resolveSecrets, secretValuesIn } from './secrets.js';
import { removeSnapshots, snapshotImages } from './snapshots.js';

export type { BranchOutcome };

export interface Removed {
  containers: number;
  networks: number;
  volumes: number;
}

export interface RemovalResult {
  resources: Removed;
  branchOutcome: BranchOutcome;
  /** Uncommitted work found once the agent had stopped, saved before its worktree went. */
  savedPatch?: string;
}

/**
 * Marks an agent as being removed by this process, on a fresh read under the state lock, if `decide`
 * (given that fresh record) still agrees; from then on provision, exec, heartbeat, run and teardown see
 * it and refuse. Returns the marked record, or undefined when the agent is gone or `decide` says no.
 */
export async function claimRemoval(
  context: RepoContext,
  name: string,
  decide: (fresh: AgentRecord) => string | undefined,
): Promise<AgentRecord | undefined> {
  const { runtime } = context;
  return updateState(context.berthDir, (state) => {
    const fresh = state.agents[name];
    const reason = fresh && decide(fresh);
    if (!fresh || !reason) return undefined;
    fresh.status = 'removing';
    fresh.removal = { by: runtime.self(), reason, since: new Date(runtime.now()).toISOString() };
    return structuredClone(fresh);
  });
}

/** Undoes a claim that did not go ahead (a teardown hook failed): the agent is ready again. */
export async function releaseClaim(context: RepoContext, name: string): Promise<void> {
  await updateState(context.berthDir, (state) => {
    const agent = state.agents[name];
    if (agent?.status !== 'removing') return;
    agent.status = 'ready';
    agent.removal = undefined;
  });
}

/**
 * Removes a claimed agent: stops its container, then saves what is uncommitted in its worktree (so
 * nothing the agent wrote until it stopped is lost), removes its stack and worktree, settles its branch,
 * and drops its record and leases last, so a crash part-way leaves a record `berth gc` finishes.
 */
export async function removeAgent(
  context: RepoContext,
  agent: AgentRecord,
  options: { keepBranch?: boolean; progress?: (message: string) => void; signal?: AbortSignal } = {},
): Promise<RemovalResult> {
  const labels = stackLabels(agent);
  const agentOnly = serviceLabels(agent, 'agent');
  // Read while its container runs: a secret in the uncommitted work is saved as ***.
  const held = await secretValuesIn(context, agent);
  // Its container halts first (haltByPause), so nothing it writes until then is lost; once its work is
  // saved, its container, worktree and branch go. The rest of its stack goes meanwhile (nothing there is
  // work), then its network and volumes (by label through the Engine API, as `compose down -v`, which
  // also finds what a killed provision left before its compose file existed); its snapshots are looked
  // up meanwhile.
  const halt = async () => {
    // A kept config that no longer reads (berth upgraded past it) is stopped, as any own command is.
    let command: readonly string[] = [];
    try {
      command = agentConfig(context, agent).agent.command;
    } catch {}
    const paused = haltByPause(command) && (await pauseLabelled(context.docker, agentOnly));
    if (!paused) await stopLabelled(context.docker, agentOnly);
  };
  const halted = halt();
  const saving = halted.then(() =>
    isWorktreeFolder(agent.worktree)
      ? saveUncommitted(context, agent.name, agent.worktree, () =>
          patchSecrets(context, agent, held, options.progress, options.signal),
        )
      : undefined,
  );
  const agentGone = saving.then(() => removeContainers(context.docker, agentOnly));
  const othersGone = removeContainers(
    context.docker,
    labels,
    (container) => container.labels[SERVICE_LABEL] !== 'agent',
  );
  const stackGone = Promise.all([agentGone, othersGone]).then(() => removeLabelled(context.docker, labels));
  const settled = saving.then(() =>
    withGitLock(context.berthDir, async () => {
      await dropWorktree(context, agent.worktree);
      return settleAgentBranch(context, agent, options.keepBranch ?? false);
    }),
  );
  const [savedPatch, removed, others, rest, branchOutcome, snapshots] = await Promise.all([
    saving,
    agentGone,
    othersGone,
    stackGone,
    settled,
    snapshotImages(context.docker, agent),
  ]);
  if (savedPatch) options.progress?.(`${agent.name}: uncommitted changes saved to ${savedPatch}`);
  archiveLogs(context, agent);
  const resources = { ...rest, containers: rest.containers + removed + others };
  await removeSnapshots(context.docker, snapshots);
  // A branch kept for its unmerged work stays berth's to settle: gc --merged deletes it once merged.
  await dropRecord(context, agent, { keepBranchRecord: branchOutcome === 'kept-unmerged' });
  removeTree(agent.stateDir);
  return { resources, branchOutcome, ...(savedPatch && { savedPatch }) };
}

/**
 * The values to write as *** in the patch of an agent's work: those its container held (if it ran),
 * and its config's secrets resolved again on this host (its hooks' own too, which the container no
 * longer holds, and all of them when the container is stopped). One that cannot be resolved is said,
 * not passed over: the patch may then hold its value.
 */
async function patchSecrets(
  context: RepoContext,
  agent: AgentRecord,
  held: readonly string[],
  progress: ((message: string) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const config = agentConfig(context, agent);
  if (Object.keys(config.secrets).length === 0) return [...held];
  try {
    const resolved = await resolveSecrets(context, config, signal);
    return [...new Set([...held, ...resolved.values.values()])];
  } catch (error) {
    // Interrupted: no patch without the values it must mask; the worktree stays.
    if (signal?.aborted) throw error;
    progress?.(
      `${agent.name}: its secrets could not be resolved again here (${(error as Error).message}); values its container no longer held may be in the saved patch as they are`,
    );
    return [...held];
  }
}

/**
 * Drops an agent's record, then the host leases it holds: a lease is taken before its record is written
 * and released after it is gone, so no record ever names a port or subnet the store could give again (a
 * crash between the two leaves a lease nobody holds, which gc releases). Its branch is no longer berth's
 * to answer for (deleted, or kept for the user), unless it was kept for unmerged work
 * (`keepBranchRecord`).
 */
export async function dropRecord(
  context: RepoContext,
  agent: AgentRecord,
  options: { keepBranchRecord?: boolean } = {},
): Promise<void> {
  await updateState(context.berthDir, (state) => {
    const recorded = state.agents[agent.name];
    if (recorded && recorded.instance === agent.instance) delete state.agents[agent.name];
    const branch = state.branches?.[agent.branch];
    if (branch && branchAgent(branch) === agent.name && !options.keepBranchRecord)
      delete state.branches?.[agent.branch];
  });
  if (agent.instance) {
    const holder = { repoId: context.repoId, agent: stackOwner(agent), instance: agent.instance };
    // In the store the agent leased from, whichever berth home removes it.
    const store = agent.leasesDir ?? leasesDir(context.runtime.env);
    await updateLeasesIn(store, (leases) => releaseLeases(leases, holder));
  }
}

/** Removes a worktree berth made, whatever state a crash left it in: registered, half-made, or gone. */
export async function dropWorktree(context: RepoContext, path: string): Promise<void> {
  const registered = (await listWorktrees(context.root)).some((entry) => entry.path === path);
  if (registered && exists(path)) await removeWorktree(context.root, path);
  removeTree(path);
  forgetWorktree(context.commonGitDir, path);
}

/** Reads where the branch stands, lets the plan decide, and deletes it if so. */
async function settleAgentBranch(
  context: RepoContext,
  agent: AgentRecord,
  keep: boolean,
): Promise<BranchOutcome> {
  const standing =
    keep || !agent.createdBranch
      ? 'absent'
      : branchStanding(await branchFacts(context.root, agent.branch, agent.baseCommit, agent.baseRef));
  const decision = settleBranch(standing, { keep, created: agent.createdBranch });
  if (decision.delete) await deleteBranch(context.root, agent.branch);
  return decision.outcome;
}
