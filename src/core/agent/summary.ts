import type { AgentRecord } from '../../plan/agent.js';
import { databaseUrl, redisUrl } from '../../plan/env.js';

/*
 * berth's shapes of an agent, from the inside out:
 * - AgentRecord (plan/agent.ts): what berth stores in state.json, passwords and all; only core reads it.
 * - AgentSummary (here): what a command may print about it: no passwords unless asked, no internals.
 * - AgentListing (list.ts): a summary joined with what Docker and git see now (services, health) and
 *   its last task; what `ls`, `show` and the UI show.
 */
export type AgentState = 'running' | 'stopped' | 'partial' | 'missing' | 'provisioning';

/** What commands print about an agent (`--json` too): no passwords unless asked. */
export interface AgentSummary {
  name: string;
  branch: string;
  worktree: string;
  composeProject: string;
  composeFile: string;
  envFile: string;
  ports: Record<string, number>;
  urls: { database: string; redis?: string };
  state: AgentState;
  createdAt: string;
  leaseExpiresAt: string;
}

export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

export function summarize(agent: AgentRecord, state: AgentState, showSecrets = false): AgentSummary {
  const show = (url: string) => (showSecrets ? url : redact(url));
  const redis = redisUrl(agent, 'host');
  return {
    name: agent.name,
    branch: agent.branch,
    worktree: agent.worktree,
    composeProject: agent.composeProject,
    composeFile: agent.composeFile,
    envFile: agent.envFile,
    ports: agent.ports,
    urls: { database: show(databaseUrl(agent, 'host')), ...(redis ? { redis: show(redis) } : {}) },
    state,
    createdAt: agent.createdAt,
    leaseExpiresAt: agent.lease.expiresAt,
  };
}
