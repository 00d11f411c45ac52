import { exists, logParts, readChunks } from '../../adapters/files.js';
import { UsageError } from '../../errors.js';
import { validateAgentName } from '../../plan/names.js';
import { findAgent, openRepo, type RepoOptions } from '../context.js';
import { readOutcome, type TaskOutcome } from '../task/history.js';
import { HOOK_NAMES, type HookName, hookLog } from './hooks.js';
import { type AgentListing, listAgents } from './list.js';

export interface ShowResult {
  name: string;
  /** The agent as it is now, when it exists. */
  agent?: AgentListing;
  /** The last task's outcome, kept after the agent is gone. */
  outcome?: TaskOutcome;
}

export async function show(options: RepoOptions & { name: string }): Promise<ShowResult> {
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  const agent = (await listAgents(options)).find((a) => a.name === name);
  const outcome = readOutcome(context, name);
  if (!agent && !outcome) {
    throw new UsageError('unknown-agent', `no agent and no task named "${name}" in ${context.root}`, {
      hint: 'see the agents with `berth ls`',
    });
  }
  return { name, agent, outcome };
}

/**
 * The agent's hook logs (one hook, or all in stage order), from the agent or from its history once it is
 * gone, as a stream of chunks: a hook that printed a lot is never read into memory whole.
 */
export async function* hookLogs(
  options: RepoOptions & { name: string; hook?: string },
): AsyncGenerator<string | Buffer> {
  const name = validateAgentName(options.name);
  if (options.hook !== undefined && !(HOOK_NAMES as readonly string[]).includes(options.hook)) {
    throw new UsageError('bad-hook', `there is no hook named "${options.hook}"`, {
      hint: `hooks: ${HOOK_NAMES.join(', ')}`,
    });
  }
  const context = await openRepo(options, { engine: false });
  const agent = findAgent(context, name);
  const dir = agent ? context.paths.agentLogs(name) : context.paths.historyLogs(name);
  if (!exists(dir)) {
    throw new UsageError('no-logs', `no logs for "${name}"`, {
      hint: 'hooks write logs when they run; see `berth ls`',
    });
  }
  const wanted: HookName[] = options.hook ? [options.hook as HookName] : [...HOOK_NAMES];
  let first = true;
  for (const hook of wanted) {
    const parts = logParts(hookLog(dir, hook));
    if (parts.length === 0) continue;
    yield `${first ? '' : '\n'}==> ${hook} <==\n`;
    first = false;
    for (const part of parts) yield* readChunks(part);
  }
}
