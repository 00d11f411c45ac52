import { listContainers } from '../../adapters/docker.js';
import { exists } from '../../adapters/files.js';
import { listWorktrees } from '../../adapters/git.js';
import type { EntryView } from '../../contract.js';
import { UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { LABELS, repoLabels, stackOwner, validateAgentName } from '../../plan/names.js';
import { readState } from '../../state/store.js';
import { openRepo, type RepoContext, type RepoOptions } from '../context.js';
import { readOutcome } from '../task/history.js';
import { agentView, expectedServices, type LiveFacts, successEntry } from './views.js';

/** Every agent of the repository, as Docker and git see it now, with its last task. */
export async function listAgents(
  options: RepoOptions & { showSecrets?: boolean } = {},
): Promise<EntryView[]> {
  const context = await openRepo(options);
  const agents = Object.values(readState(context.berthDir).agents).sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  const live = await liveFacts(context, agents);
  return agents.map((agent) =>
    successEntry(
      agent.name,
      agentView(agent, live(agent), {
        showSecrets: options.showSecrets,
        isRunning: context.runtime.isRunning,
      }),
      readOutcome(context, agent.name),
    ),
  );
}

/** One agent and its last task; its task alone once the agent is gone. */
export async function show(
  options: RepoOptions & { name: string; showSecrets?: boolean },
): Promise<EntryView> {
  const name = validateAgentName(options.name);
  const entry = (await listAgents(options)).find((e) => e.name === name);
  if (entry) return entry;
  const context = await openRepo(options, { engine: false });
  const outcome = readOutcome(context, name);
  if (!outcome) {
    throw new UsageError('unknown-agent', `no agent and no task named "${name}" in ${context.root}`, {
      hint: 'see the agents with `berth ls`',
    });
  }
  return successEntry(name, null, outcome);
}

/** Reads the containers and worktrees once, and says what is true of each agent's now. */
export async function liveFacts(
  context: RepoContext,
  agents: AgentRecord[],
): Promise<(agent: AgentRecord) => LiveFacts> {
  if (agents.length === 0) return () => ({ services: {}, worktreeOk: true });
  const [containers, worktrees] = await Promise.all([
    listContainers(context.docker, repoLabels(context.repoId)),
    listWorktrees(context.root),
  ]);
  const registered = new Set(worktrees.filter((w) => !w.prunable).map((w) => w.path));
  return (agent) => {
    const own = containers.filter((c) => c.labels[LABELS.agent] === stackOwner(agent));
    const services = Object.fromEntries(
      expectedServices(agent).map((service) => [
        service,
        own.find((c) => c.service === service)?.state ?? 'missing',
      ]),
    );
    return { services, worktreeOk: registered.has(agent.worktree) && exists(agent.worktree) };
  };
}
