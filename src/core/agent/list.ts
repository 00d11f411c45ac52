import { type LabelledContainer, listContainers } from '../../adapters/docker.js';
import { exists } from '../../adapters/files.js';
import { listWorktrees } from '../../adapters/git.js';
import type { AgentRecord } from '../../plan/agent.js';
import { LABELS, repoLabels } from '../../plan/names.js';
import { readState } from '../../state/store.js';
import { openRepo, type RepoOptions } from '../context.js';
import { readOutcome, type TaskOutcome } from '../task/history.js';
import { type AgentState, type AgentSummary, summarize } from './summary.js';

export interface AgentListing extends AgentSummary {
  /** The last task run on it (berth run or complete), if any. */
  outcome?: TaskOutcome;
  /** What is wrong, or "ok": each service running and the worktree registered with git. */
  health: string;
  services: Record<string, string>;
}

/** Every agent of the repository, as Docker and git see it now, joined with berth's state. */
export async function listAgents(
  options: RepoOptions & { showSecrets?: boolean } = {},
): Promise<AgentListing[]> {
  const context = await openRepo(options);
  const agents = Object.values(readState(context.berthDir).agents);
  const [containers, worktrees] = await Promise.all([
    listContainers(context.docker, repoLabels(context.repoId)),
    listWorktrees(context.root),
  ]);
  const registered = new Set(worktrees.filter((w) => !w.prunable).map((w) => w.path));
  return agents
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((agent) => {
      const own = containers.filter((c) => c.labels[LABELS.agent] === agent.name);
      const services = serviceStates(agent, own);
      const state = agent.status === 'provisioning' ? 'provisioning' : stackState(services);
      const worktreeOk = registered.has(agent.worktree) && exists(agent.worktree);
      const outcome = readOutcome(context, agent.name);
      return {
        ...summarize(agent, state, options.showSecrets),
        health: health(services, worktreeOk),
        services,
        ...(outcome && { outcome }),
      };
    });
}

function expectedServices(agent: AgentRecord): string[] {
  return ['agent', 'postgres', ...(agent.redisEnabled ? ['redis'] : [])];
}

function serviceStates(agent: AgentRecord, containers: LabelledContainer[]): Record<string, string> {
  return Object.fromEntries(
    expectedServices(agent).map((service) => [
      service,
      containers.find((c) => c.service === service)?.state ?? 'missing',
    ]),
  );
}

function stackState(services: Record<string, string>): AgentState {
  const states = Object.values(services);
  if (states.every((s) => s === 'running')) return 'running';
  if (states.every((s) => s === 'missing')) return 'missing';
  if (states.every((s) => s !== 'running')) return 'stopped';
  return 'partial';
}

function health(services: Record<string, string>, worktreeOk: boolean): string {
  const problems = Object.entries(services)
    .filter(([, state]) => state !== 'running')
    .map(([service, state]) => `${service} ${state}`);
  if (!worktreeOk) problems.push('worktree missing');
  return problems.length ? problems.join(', ') : 'ok';
}
