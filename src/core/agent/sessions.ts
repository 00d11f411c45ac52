import { isWorktreeFolder } from '../../adapters/git.js';
import { UsageError } from '../../errors.js';
import { type AgentRecord, expiryFrom, sameProcess } from '../../plan/agent.js';
import { claimRefusal, worktreeRefusal } from '../../plan/claim.js';
import { updateState } from '../../state/store.js';
import type { RepoContext } from '../context.js';

type SessionKind = NonNullable<AgentRecord['sessions']>[number]['kind'];

/**
 * Runs `work` as a session of the agent (a `berth exec` or `berth run` command): recorded in its state
 * while it runs, so gc sees the agent in use and never reaps it. Refused while the agent is being made
 * or removed by another berth process. Sessions of processes that died are dropped on the way.
 */
export async function withSession<T>(
  context: RepoContext,
  name: string,
  kind: SessionKind,
  work: (agent: AgentRecord) => Promise<T>,
): Promise<T> {
  const { runtime } = context;
  const self = runtime.self();
  const agent = await updateState(context.berthDir, (state) => {
    const fresh = state.agents[name];
    if (!fresh) throw unknownAgent(context, name);
    const refusal =
      claimRefusal(fresh, runtime.isRunning, self) ??
      worktreeRefusal(fresh, kind, isWorktreeFolder(fresh.worktree));
    if (refusal) throw refusal;
    fresh.sessions = [
      ...(fresh.sessions ?? []).filter((session) => runtime.isRunning(session.process)),
      { process: self, kind, since: new Date(runtime.now()).toISOString() },
    ];
    fresh.expiry = expiryFrom(fresh.expiry.ttlSeconds, runtime.now());
    return structuredClone(fresh);
  });
  try {
    return await work(agent);
  } finally {
    await updateState(context.berthDir, (state) => {
      const record = state.agents[name];
      if (!record?.sessions) return;
      record.sessions = record.sessions.filter((session) => !sameProcess(session.process, self));
      if (record.sessions.length === 0) record.sessions = undefined;
    });
  }
}

export function unknownAgent(context: RepoContext, name: string): UsageError {
  return new UsageError('unknown-agent', `no agent named "${name}" in ${context.root}`, {
    hint: 'see the agents with `berth ls`, or create it with `berth provision`',
  });
}
