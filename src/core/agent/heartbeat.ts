import { type AgentRecord, expiryFrom } from '../../plan/agent.js';
import { claimRefusal } from '../../plan/claim.js';
import { validateAgentName } from '../../plan/names.js';
import { updateState } from '../../state/store.js';
import { openRepo, type RepoContext, type RepoOptions, requireAgent } from '../context.js';

/** Moves the agent's expiry to its time to live from now; returns the new expiry. */
export async function renewExpiry(context: RepoContext, name: string): Promise<string> {
  requireAgent(context, name);
  const { runtime } = context;
  const now = runtime.now();
  return updateState(context.berthDir, (state) => {
    const agent = state.agents[name];
    if (!agent) return '';
    const refusal = claimRefusal(agent, runtime.isRunning, runtime.self());
    if (refusal) throw refusal;
    agent.expiry = expiryFrom(agent.expiry.ttlSeconds, now);
    return agent.expiry.expiresAt;
  });
}

export async function heartbeat(
  options: RepoOptions & { name: string },
): Promise<{ name: string; expiresAt: string }> {
  const context = await openRepo(options, { engine: false });
  const name = validateAgentName(options.name);
  return { name, expiresAt: await renewExpiry(context, name) };
}

/** Renews the expiry now and every third of its time to live until stopped (while `berth exec` runs). */
export function keepLeaseAlive(context: RepoContext, agent: AgentRecord): () => void {
  void renewExpiry(context, agent.name).catch(() => {});
  const timer = setInterval(
    () => void renewExpiry(context, agent.name).catch(() => {}),
    Math.max(1000, (agent.expiry.ttlSeconds * 1000) / 3),
  );
  timer.unref();
  return () => clearInterval(timer);
}
