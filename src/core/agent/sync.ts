import {
  branchTip,
  commitsAhead,
  fetchAll,
  hasRemotes,
  rebaseOrAbort,
  resolveCommit,
  uncommittedChanges,
  upstreamOf,
} from '../../adapters/git.js';
import type { ResultOf } from '../../contract.js';
import { BerthError, interrupted } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { validateAgentName } from '../../plan/names.js';
import { stackChanges } from '../../plan/services.js';
import { updateState, withGitLock } from '../../state/store.js';
import {
  agentConfig,
  currentAgentConfig,
  openRepo,
  type RepoContext,
  type RepoOptions,
  requireAgent,
} from '../context.js';
import { branchWork } from './branch-work.js';
import { applyEgress } from './egress.js';
import { runHooks } from './hooks.js';
import { giveSecrets, type ResolvedSecrets, resolveSecrets, secretsFor, takeSecrets } from './secrets.js';
import { withSession } from './sessions.js';

export type SyncResult = ResultOf<'sync'>;

/**
 * Brings an agent's branch up to date: fetch, rebase on its base as this repository has it (a local
 * branch with its local commits, which is what the agent's work is counted against; a remote-tracking
 * base as the fetch left it), and the setup hooks again. A local base that lacks commits of its
 * upstream is said, not taken: pulling it is its owner's call. Refuses on a dirty worktree; on a
 * conflict, aborts the rebase and says where.
 */
export async function sync(
  options: RepoOptions & {
    name: string;
    configPath?: string;
    progress?: (line: string) => void;
    /** Ctrl-C, SIGTERM or SIGHUP: what runs (a fetch, a `command:` secret, a setup hook) is stopped. */
    signal?: AbortSignal;
  },
): Promise<SyncResult> {
  const context = await openRepo(options);
  const name = requireAgent(context, validateAgentName(options.name)).name;
  // As a session of the agent: refused while it is made or removed, and never reaped meanwhile.
  return withSession(context, name, 'sync', (agent) => syncAgent(context, agent, options));
}

/** What an interrupted sync leaves: the branch as it was before the rebase, or rebased without its setup. */
function syncInterrupted(name: string, rebased: boolean): BerthError {
  return interrupted(
    rebased
      ? `${name}'s branch was rebased; its setup hooks were stopped part-way: berth sync ${name} runs them again`
      : `${name} was left as it was (not rebased)`,
  );
}

async function syncAgent(
  context: RepoContext,
  agent: AgentRecord,
  options: { configPath?: string; progress?: (line: string) => void; signal?: AbortSignal },
): Promise<SyncResult> {
  const { signal } = options;
  const before = <T>(work: Promise<T>) =>
    work.then(
      (value) => {
        if (signal?.aborted) throw syncInterrupted(agent.name, false);
        return value;
      },
      (error) => {
        throw signal?.aborted ? syncInterrupted(agent.name, false) : error;
      },
    );
  const at = { worktree: agent.worktree, commonGitDir: context.commonGitDir };
  const dirty = await uncommittedChanges(at);
  if (dirty.length > 0) {
    throw new BerthError(
      'sync-dirty',
      `agent ${agent.name} has ${dirty.length} uncommitted change(s); nothing was changed`,
      {
        hint: `commit or stash them first (berth exec ${agent.name} -- git stash)`,
      },
    );
  }
  // Before anything changes: a secret that does not resolve leaves the agent as it was.
  // berth.yaml as the trusted working tree has it now (never the agent's), kept as its copy once applied.
  const { config, keep } = currentAgentConfig(context, agent, options.configPath);
  const resolved = await before(resolveSecrets(context, config, signal));
  const fetched = await hasRemotes(context.root);
  if (fetched) await before(fetchAll(context.root, signal));
  const onto = agent.baseRef;
  const base = await resolveCommit(context.root, onto);
  if (!base) {
    throw new BerthError(
      'sync-no-base',
      `the base of ${agent.name}, ${onto}, names no commit; nothing changed`,
      {
        hint: `make it again (git branch ${onto} <commit>), or rebase by hand in ${agent.worktree}`,
      },
    );
  }
  const upstream = await upstreamBeyond(context.root, onto, base);
  if (upstream)
    options.progress?.(
      `${onto} lacks ${upstream.behind} commit(s) of its upstream ${upstream.ref}: rebased onto ${onto} as it is (pull it to take them)`,
    );
  const from = (await branchTip(context.root, agent.branch)) ?? '';
  await withGitLock(context.berthDir, async () => {
    const rebase = await rebaseOrAbort(at, onto);
    if (rebase.ok) return;
    throw new BerthError(
      'sync-conflict',
      `rebasing ${agent.branch} on ${onto} conflicts in ${rebase.conflicts.join(', ') || 'some files'}; the rebase was aborted, nothing changed`,
      { hint: 'resolve it by hand in the worktree (git rebase), or let the agent do it' },
    );
  });
  // The current values in (a rotated token), for the agent and for the setup run; the agent's other
  // secrets stay until the hooks succeeded, so a failure takes nothing away from it.
  const secrets = resolved;
  await giveSecrets(context, agent, secrets, [...secretsFor(secrets.grants, 'agent'), ...hooksOnly(secrets)]);
  // The list in berth.yaml now, applied to the running proxy: no re-provision.
  const egress = agent.egress ? await applyEgress(context, agent, config) : undefined;
  try {
    await runHooks(context, agent, 'setup', config.hooks.setup, {
      timeout: config.hookTimeout,
      secrets,
      signal,
    });
    // With no setup hooks, a signal once rebased finds the sync done.
    if (signal?.aborted && config.hooks.setup.length > 0) throw syncInterrupted(agent.name, true);
  } catch (error) {
    throw signal?.aborted ? syncInterrupted(agent.name, true) : error;
  } finally {
    await takeSecrets(context, agent, hooksOnly(secrets));
  }
  await dropUnconfiguredSecrets(context, agent, secrets);
  // What makes the stack is not changed by a sync: its copy stays the config the stack was made with.
  const changed = stackChanges(agentConfig(context, agent), config);
  if (changed.length === 0) keep();
  else
    options.progress?.(
      `berth.yaml's ${changed.join(', ')} changed since ${agent.name} was made; a sync applies its hooks, secrets and egress list only, so the agent keeps its config: tear it down and provision it again to apply them`,
    );
  return {
    name: agent.name,
    branch: agent.branch,
    onto,
    fetched,
    rebased: { from, to: (await branchTip(context.root, agent.branch)) ?? '' },
    commits: (await branchWork(context, agent)).commits,
    setup: { ran: config.hooks.setup.length > 0, commands: config.hooks.setup.length },
    ...(secrets.grants.length > 0 && { secrets: secrets.grants.map((grant) => grant.name) }),
    ...(egress && { egress: { allow: egress.allow, tcp: egress.tcp } }),
    ...(upstream && { upstream }),
  };
}

const hooksOnly = ({ grants }: ResolvedSecrets) =>
  secretsFor(grants, 'hooks').filter((name) => !secretsFor(grants, 'agent').includes(name));

/**
 * Once the sync succeeded: the secrets no longer configured leave the agent's container, and its
 * record keeps the names of the ones it has now.
 */
async function dropUnconfiguredSecrets(context: RepoContext, agent: AgentRecord, secrets: ResolvedSecrets) {
  if (secrets.grants.length === 0 && !agent.secrets?.length) return;
  const names = new Set(secrets.grants.map((grant) => grant.name));
  const gone = (agent.secrets ?? []).map((grant) => grant.name).filter((name) => !names.has(name));
  await takeSecrets(context, agent, gone);
  const updated = await updateState(context.berthDir, (state) => {
    const record = state.agents[agent.name];
    if (!record || record.instance !== agent.instance) return undefined;
    record.secrets = secrets.grants;
    return structuredClone(record);
  });
  if (updated) Object.assign(agent, { secrets: updated.secrets });
}

/** The base's upstream, when it has commits the base does not (fetched, not pulled). */
async function upstreamBeyond(root: string, baseRef: string, base: string) {
  const ref = await upstreamOf(root, baseRef);
  const tip = ref && (await resolveCommit(root, ref));
  const behind = tip ? await commitsAhead(root, base, tip) : 0;
  return ref && behind > 0 ? { ref, behind } : undefined;
}
