import { IDLE_AGENT_COMMAND } from '../config/schema.js';
import { BerthError, UsageError } from '../errors.js';
import { type AgentRecord, sameProcess } from './agent.js';
import { liveSessions } from './reap.js';

/**
 * How a removal halts the agent's container before its work is saved: frozen (pause) when it runs
 * berth's idle command, for what runs in it then is what berth exec'd, which goes with SIGKILL either
 * way; stopped (SIGTERM, then SIGKILL) when it runs a program of its own, which may save on SIGTERM.
 */
export function haltByPause(command: readonly string[]): boolean {
  return (
    command.length === IDLE_AGENT_COMMAND.length && command.every((word, i) => word === IDLE_AGENT_COMMAND[i])
  );
}

/** Why a live agent cannot be claimed now, as an error for the command that asked; undefined if it can. */
export function claimRefusal(
  agent: AgentRecord,
  isRunning: (process: NonNullable<AgentRecord['owner']>) => boolean,
  self: NonNullable<AgentRecord['owner']>,
): BerthError | undefined {
  if (agent.status === 'removing' && agent.removal && isRunning(agent.removal.by)) {
    if (sameProcess(agent.removal.by, self)) return undefined;
    return beingRemoved(agent);
  }
  if (agent.status === 'provisioning' && agent.owner && isRunning(agent.owner)) {
    return new UsageError(
      'agent-provisioning',
      `agent ${agent.name} is still being provisioned (pid ${agent.owner.pid})`,
      {
        hint: 'wait for its provision to finish (berth ls), then try again',
      },
    );
  }
  return undefined;
}

/**
 * A session that works in the agent's worktree (exec, run, sync; not db) cannot start once the worktree
 * is gone (deleted by hand): its branch still has its commits.
 */
export function worktreeRefusal(
  agent: AgentRecord,
  kind: NonNullable<AgentRecord['sessions']>[number]['kind'],
  worktreeThere: boolean,
): BerthError | undefined {
  if (worktreeThere || kind === 'db') return undefined;
  return new BerthError(
    'worktree-missing',
    `the worktree of agent ${agent.name}, ${agent.worktree}, is gone`,
    {
      hint: `its commits are on ${agent.branch}: berth teardown ${agent.name}, then berth provision ${agent.name} --branch ${agent.branch} to go on`,
    },
  );
}

export function beingRemoved(agent: AgentRecord): UsageError {
  return new UsageError(
    'agent-being-removed',
    `agent ${agent.name} is being removed (${agent.removal?.reason ?? 'by berth'})`,
    {
      hint: 'wait until it is gone (berth ls shows it meanwhile)',
    },
  );
}

/**
 * Why an agent cannot be torn down now (removing nothing): another process makes or removes it, or,
 * unless forced, a `berth exec` or `shell` other than this process runs in it.
 */
export function teardownRefusal(
  agent: AgentRecord,
  isRunning: (process: NonNullable<AgentRecord['owner']>) => boolean,
  self: NonNullable<AgentRecord['owner']>,
  force: boolean,
): BerthError | undefined {
  const refusal = claimRefusal(agent, isRunning, self);
  if (refusal || force) return refusal;
  const running = liveSessions(agent, { isRunning }).filter((session) => !sameProcess(session.process, self));
  if (running.length === 0) return undefined;
  return new BerthError(
    'agent-in-use',
    `agent ${agent.name} is in use: ${running.map((s) => `berth ${s.kind} (pid ${s.process.pid})`).join(', ')} runs in it`,
    { hint: 'wait for it to finish, or pass --force to stop it (uncommitted work is saved first)' },
  );
}

/** Uncommitted work refuses a teardown that is not forced (forced, it is saved as a patch first). */
export function uncommittedRefusal(name: string, worktree: string, changes: number): BerthError | undefined {
  if (changes === 0) return undefined;
  return new BerthError(
    'uncommitted-changes',
    `agent ${name} has ${changes} uncommitted change(s) in ${worktree}`,
    {
      hint: `commit them, untracked files too (berth exec ${name} -- sh -c 'git add -A && git commit -m wip'), or pass --force to save them as a patch and tear down`,
    },
  );
}
