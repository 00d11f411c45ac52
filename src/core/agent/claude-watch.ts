import { setTimeout as sleep } from 'node:timers/promises';
import { appendFile } from '../../adapters/files.js';
import { messageOf } from '../../errors.js';
import { type AgentRecord, expiryFrom, type ProcessId, sameProcess } from '../../plan/agent.js';
import { agentsOfClaude, claudeWatchIntervalMs } from '../../plan/agent-hooks.js';
import { reapReason } from '../../plan/reap.js';
import { readState, updateState } from '../../state/store.js';
import { openRepo, type RepoContext, type RepoOptions } from '../context.js';
import { claimRemoval, removeAgent } from './remove.js';

export interface WatchClaudeOptions extends RepoOptions {
  /** Claude Code's process, as its agents' records name it. */
  pid: number;
}

export interface WatchClaudeResult {
  /** The agents removed once Claude Code's process had ended and they had expired. */
  reaped: string[];
  /** Another watcher of the same process runs: this one left at once. */
  alreadyWatched: boolean;
}

/**
 * Watches the Claude Code process whose hooks made agents in this repository, until none of them is
 * left to it. While the process runs it renews their leases (each by its own `claude.ttl`), so an
 * agent whose session runs is never reaped. Once the process has ended without the session's hooks (a
 * crash, a kill, a session that could not log in), nothing renews them: when its time to live runs out the agent
 * is removed as gc removes it (decided again under the lock, its work saved as a patch, an unmerged
 * branch kept). An agent whose session ended through SessionEnd is no longer the watcher's.
 * One watcher per process: a second one finds the first in the records and leaves.
 */
export async function watchClaude(options: WatchClaudeOptions): Promise<WatchClaudeResult> {
  const context = await openRepo(options);
  const { runtime } = context;
  const log = (message: string) =>
    appendFile(
      context.paths.claudeWatchLog(options.pid),
      `${new Date(runtime.now()).toISOString()} ${message}\n`,
    );
  const claude = processOfRecords(context, options.pid);
  if (!claude) return { reaped: [], alreadyWatched: false };
  const self = runtime.self();
  const reaped: string[] = [];
  for (;;) {
    const mine = await takeWatch(context, claude, self);
    if (mine === 'watched') return { reaped, alreadyWatched: true };
    if (mine.length === 0) {
      log('no agent of this Claude Code process is left to watch');
      return { reaped, alreadyWatched: false };
    }
    if (runtime.isRunning(claude)) await renew(context, mine);
    else {
      for (const agent of mine) {
        const removed = await reap(context, agent).catch((error: unknown) => {
          log(`${agent.name}: could not be removed: ${messageOf(error)}`);
          return undefined;
        });
        if (removed === undefined) continue;
        reaped.push(agent.name);
        log(`${agent.name}: removed (${removed})`);
      }
    }
    const ttl = Math.min(...mine.map((agent) => agent.expiry.ttlSeconds));
    await sleep(claudeWatchIntervalMs(ttl));
  }
}

/** The Claude Code process with this pid, as the records name it (with its start time). */
function processOfRecords(context: RepoContext, pid: number): ProcessId | undefined {
  const agents = Object.values(readState(context.berthDir).agents);
  return agents.find((agent) => agent.claude?.process?.pid === pid)?.claude?.process;
}

/**
 * The agents of the process still to watch, marked as watched by this process under the state lock;
 * 'watched' when another live watcher holds them.
 */
async function takeWatch(
  context: RepoContext,
  claude: ProcessId,
  self: ProcessId,
): Promise<AgentRecord[] | 'watched'> {
  const { isRunning } = context.runtime;
  return updateState(context.berthDir, (state) => {
    const mine = agentsOfClaude(Object.values(state.agents), { process: claude });
    const other = mine.find(
      (agent) =>
        agent.claude?.watcher && !sameProcess(agent.claude.watcher, self) && isRunning(agent.claude.watcher),
    );
    if (other) return 'watched';
    for (const agent of mine) if (agent.claude) agent.claude.watcher = self;
    return structuredClone(mine);
  });
}

async function renew(context: RepoContext, agents: AgentRecord[]): Promise<void> {
  const now = context.runtime.now();
  await updateState(context.berthDir, (state) => {
    for (const agent of agents) {
      const record = state.agents[agent.name];
      if (record?.status !== 'ready' || record.instance !== agent.instance || record.claude?.endedAt)
        continue;
      record.expiry = expiryFrom(record.expiry.ttlSeconds, now);
    }
  });
}

/** Removes the agent if gc would now (it expired, no command runs in it); returns why, or undefined. */
async function reap(context: RepoContext, agent: AgentRecord): Promise<string | undefined> {
  const { runtime } = context;
  const facts = { isRunning: runtime.isRunning, stackGone: false, worktreeGone: false };
  const claimed = await claimRemoval(context, agent.name, (fresh) =>
    fresh.instance === agent.instance && !fresh.claude?.endedAt
      ? reapReason(fresh, { ...facts, now: runtime.now() })?.text
      : undefined,
  );
  if (!claimed) return undefined;
  const removal = await removeAgent(context, claimed);
  const saved = removal.savedPatch ? `; its uncommitted work saved to ${removal.savedPatch}` : '';
  return `${claimed.removal?.reason ?? 'it expired'}${saved}`;
}
