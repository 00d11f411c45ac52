import { listContainers, watchEngineEvents } from '../../adapters/docker.js';
import { exists, readTail, watchFolder } from '../../adapters/files.js';
import { listWorktrees } from '../../adapters/git.js';
import type { EntryView } from '../../contract.js';
import { UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { compareNames, LABELS, repoLabels, stackOwner, validateAgentName } from '../../plan/names.js';
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
    compareNames(a.name, b.name),
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
    const step =
      agent.status === 'provisioning'
        ? provisionStep(context.paths.agentLog(agent.name, 'provision'))
        : undefined;
    return {
      services,
      worktreeOk: registered.has(agent.worktree) && exists(agent.worktree),
      ...(step && { step }),
    };
  };
}

/**
 * The step a provision is at: the last line of its log ("<time> <step>"). None yet while it reserves (its
 * folder is made after its record), or when it was killed before.
 */
function provisionStep(log: string): string | undefined {
  if (!exists(log)) return undefined;
  const { text } = readTail(log, 512);
  return text.trim().split('\n').at(-1)?.split(' ')[1];
}

/**
 * Calls `show` with the agents now, and again whenever they change: engine events on the repository's
 * resources and changes to berth's state, a few at a time; every few seconds too (leases count down, a
 * provision's step moves), until `signal` aborts.
 */
export async function watchAgents(
  options: RepoOptions & { showSecrets?: boolean; signal: AbortSignal },
  show: (entries: EntryView[]) => void,
): Promise<void> {
  const context = await openRepo(options);
  let wake = () => {};
  let pending = true;
  const changed = () => {
    pending = true;
    wake();
  };
  const stopEvents = await watchEngineEvents(context.docker, repoLabels(context.repoId), changed);
  const stopFolder = watchFolder(context.berthDir, changed);
  const aborted = new Promise<void>((resolve) =>
    options.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  try {
    while (!options.signal.aborted) {
      if (pending) {
        pending = false;
        let entries: EntryView[];
        try {
          entries = await listAgents({ ...options, repo: context.root });
        } catch (error) {
          // Ctrl-C on a terminal reaches the git and docker processes a listing runs, too.
          if (options.signal.aborted) return;
          throw error;
        }
        show(entries);
      }
      const provisioning = Object.values(readState(context.berthDir).agents).some(
        (a) => a.status === 'provisioning',
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        aborted,
        new Promise<void>((resolve) => {
          timer = setTimeout(
            () => {
              pending = true;
              resolve();
            },
            provisioning ? 500 : 5_000,
          );
          wake = () => {
            clearTimeout(timer);
            // Events come in bursts: one redraw for the burst.
            timer = setTimeout(resolve, 150);
          };
        }),
      ]);
      clearTimeout(timer);
    }
  } finally {
    stopEvents();
    stopFolder();
  }
}
