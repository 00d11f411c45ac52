import type { AgentRecord } from './agent.js';
import { relative } from './duration.js';
import { stackOwner } from './names.js';

/** What gc knows about one agent when it decides: read fresh, under the state lock, but for git's facts. */
export interface ReapFacts {
  now: number;
  /** Whether a recorded process (the provisioning owner, the remover, a session) still runs. */
  isRunning: (process: NonNullable<AgentRecord['owner']>) => boolean;
  /** The branch has commits, and all of them are in its base (by ancestry or by content). */
  merged?: boolean;
  /** None of the agent's containers exists. */
  stackGone: boolean;
  worktreeGone: boolean;
}

export interface ReapOptions {
  /** Reap merged agents even before they expire (their work is saved first). */
  merged?: boolean;
}

/** Why an agent is being removed, for the record and the report. */
export interface ReapReason {
  kind: 'removal-interrupted' | 'provision-killed' | 'provision-failed' | 'expired' | 'merged' | 'gone';
  text: string;
}

/** Running `berth exec` and `berth run` commands in the agent: while any runs, it is in use. */
export function liveSessions(agent: AgentRecord, facts: Pick<ReapFacts, 'isRunning'>) {
  return (agent.sessions ?? []).filter((session) => facts.isRunning(session.process));
}

/**
 * The Claude Code session whose hook made the agent still runs in it: Claude Code's process lives and
 * its SessionEnd has not come. While it does, the agent is in use, whatever its expiry says.
 */
export function claudeRuns(agent: AgentRecord, facts: Pick<ReapFacts, 'isRunning'>): boolean {
  const claude = agent.claude;
  return Boolean(claude?.process && !claude.endedAt && facts.isRunning(claude.process));
}

/**
 * Whether gc removes an agent, and why. An agent in use (a running exec or run, a running Claude Code
 * session that made it, or, unless --merged, an expiry not yet past) is never removed; nor is one another live process is making or removing.
 */
export function reapReason(
  agent: AgentRecord,
  facts: ReapFacts,
  options: ReapOptions = {},
): ReapReason | undefined {
  if (agent.status === 'removing') {
    if (agent.removal && facts.isRunning(agent.removal.by)) return undefined;
    return {
      kind: 'removal-interrupted',
      text: `its removal (${agent.removal?.reason ?? 'unknown'}) was interrupted`,
    };
  }
  if (agent.status === 'provisioning') {
    if (!agent.owner || facts.isRunning(agent.owner)) return undefined;
    return { kind: 'provision-killed', text: 'its provision was killed part-way' };
  }
  if (agent.status === 'failed') {
    return {
      kind: 'provision-failed',
      text: `its provision failed and could not be undone then (${agent.failure ?? 'unknown'})`,
    };
  }
  if (liveSessions(agent, facts).length > 0) return undefined;
  if (claudeRuns(agent, facts)) return undefined;
  const expired = Date.parse(agent.expiry.expiresAt) <= facts.now;
  if (expired) return { kind: 'expired', text: `it expired ${relative(agent.expiry.expiresAt, facts.now)}` };
  if (options.merged && facts.merged) {
    return { kind: 'merged', text: `its branch ${agent.branch} is merged into ${agent.baseRef}` };
  }
  if (facts.stackGone && facts.worktreeGone)
    return { kind: 'gone', text: 'its containers and worktree are gone' };
  return undefined;
}

/** Whether a decision needs git's facts about the branch: only `gc --merged` asks about merges. */
export function needsMergeFacts(agent: AgentRecord, options: ReapOptions): boolean {
  return Boolean(options.merged) && agent.status === 'ready';
}

/** A labelled resource's owner: the agent it was made for, and which provision of that agent. */
export interface ResourceOwner {
  agent: string;
  instance?: string | undefined;
}

/**
 * Whether the state claims a resource: its agent is recorded, and it is that provision's (a resource of
 * an earlier agent with the same name is not claimed by the new one).
 */
export function claims(
  state: { agents: Record<string, AgentRecord>; pool?: Record<string, { instance: string }> },
  owner: ResourceOwner,
): boolean {
  const instance = owner.instance ?? '';
  const member = state.pool?.[owner.agent];
  if (member && member.instance === instance) return true;
  // An agent that adopted a pool member: its resources carry the member's id as their agent label.
  return Object.values(state.agents).some(
    (record) =>
      (record.name === owner.agent || stackOwner(record) === owner.agent) &&
      (record.instance ?? '') === instance,
  );
}

/** A host lease nobody holds any more (its agent's record is gone), once it is older than `graceMs`. */
export function leaseUnheld(since: string, held: boolean, now: number, graceMs: number): boolean {
  return !held && Date.parse(since) + graceMs <= now;
}
