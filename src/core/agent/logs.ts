import { join } from 'node:path';
import { containerLogTail, followContainerLogs, listContainers } from '../../adapters/docker.js';
import { exists, followFile, logParts, readChunks, readTail, sizeOf } from '../../adapters/files.js';
import type { ResultOf } from '../../contract.js';
import { UsageError } from '../../errors.js';
import { type AgentRecord, stackServices } from '../../plan/agent.js';
import { serviceLabels, validateAgentName } from '../../plan/names.js';
import { namedLog } from '../../state/paths.js';
import { findAgent, openRepo, type RepoContext, type RepoOptions, requireAgent } from '../context.js';
import { readOutcome } from '../task/history.js';
import { HOOK_NAMES, type HookName, hookLog } from './hooks.js';

export interface LogsOptions extends RepoOptions {
  name: string;
  /** One hook's log. */
  hook?: string;
  /** The last task run's output. */
  task?: boolean;
  /** The egress proxy's decisions (JSON lines). */
  egress?: boolean;
}

/** A log to show: where it is (its rotated parts, oldest first) and a line that says what it is. */
interface LogSource {
  source: string;
  file: string;
  parts: string[];
  header: string;
  startedAt?: string;
  state?: string;
}

/**
 * The agent's logs: its hooks' (one, or all in stage order), or its last task run's output; from the
 * agent, or from its history once it is gone.
 */
async function logSources(options: LogsOptions): Promise<LogSource[]> {
  const name = validateAgentName(options.name);
  if (options.hook !== undefined && !(HOOK_NAMES as readonly string[]).includes(options.hook)) {
    throw new UsageError('bad-hook', `there is no hook named "${options.hook}"`, {
      hint: `hooks: ${HOOK_NAMES.join(', ')}`,
    });
  }
  const context = await openRepo(options, { engine: false });
  if (options.task) {
    const outcome = readOutcome(context, name);
    if (!outcome) {
      throw new UsageError('no-task', `no task has run on "${name}"`, {
        hint: `start one: berth run ${name} -- <command>`,
      });
    }
    if (!outcome.logFile || !exists(outcome.logFile)) {
      throw new UsageError(
        'no-task-log',
        `the last task of "${name}" ran attached to a terminal: its output was not kept`,
        {
          hint: 'run it without a terminal (in a pipe, or with --json) to keep its output',
        },
      );
    }
    const what =
      outcome.state === 'running' ? 'still running' : `${outcome.state}, exit code ${outcome.exitCode}`;
    return [
      {
        source: 'task',
        file: outcome.logFile,
        parts: [outcome.logFile],
        header: `task, started ${outcome.startedAt}: ${what}`,
        startedAt: outcome.startedAt,
        state: outcome.state,
      },
    ];
  }
  const dir = findAgent(context, name) ? context.paths.agentLogs(name) : context.paths.historyLogs(name);
  if (options.egress) {
    const file = join(dir, 'egress', EGRESS_LOG);
    if (!exists(file)) {
      throw new UsageError('no-egress-log', `"${name}" has no egress log`, {
        hint: 'an agent has one when network.egress is set in berth.yaml at its provision',
      });
    }
    return [{ source: 'egress', file, parts: [file], header: 'egress (the proxy`s decisions)' }];
  }
  if (!exists(dir)) {
    throw new UsageError('no-logs', `no logs for "${name}"`, {
      hint: 'hooks write logs when they run; see `berth ls`',
    });
  }
  const wanted: HookName[] = options.hook ? [options.hook as HookName] : [...HOOK_NAMES];
  const sources = wanted
    .map((hook) => ({ hook, file: hookLog(dir, hook) }))
    .map(({ hook, file }) => ({ source: hook, file, parts: logParts(file), header: hook }))
    .filter((source) => source.parts.length > 0);
  if (options.hook && sources.length === 0) {
    throw new UsageError('no-log', `the ${options.hook} hook has not run for "${name}"`, {
      hint: `none is configured (hooks.${options.hook} in berth.yaml), or the agent has not reached it`,
    });
  }
  return sources;
}

/** The logs as a stream of chunks, each under its header: a log of 50 MB is never read whole. */
export async function* streamLogs(options: LogsOptions): AsyncGenerator<string | Buffer> {
  const sources = await logSources(options);
  for (const [index, source] of sources.entries()) {
    // The egress log is JSON lines, for jq: no header in front.
    if (source.source !== 'egress') yield `${index === 0 ? '' : '\n'}==> ${source.header} <==\n`;
    for (const part of source.parts) yield* readChunks(part);
  }
}

/** The last `maxBytes` of each log, and where the whole of it is (for --json and the MCP server). */
export async function logTails(options: LogsOptions, maxBytes = 64 * 1024): Promise<ResultOf<'logs'>> {
  const sources = await logSources(options);
  return {
    name: options.name,
    logs: sources.map((source) => {
      const last = source.parts.at(-1) ?? source.file;
      const { text, truncated } = readTail(last, maxBytes);
      return {
        source: source.source,
        file: source.file,
        text,
        truncated: truncated || source.parts.length > 1,
        ...(source.startedAt && { startedAt: source.startedAt }),
        ...(source.state && { state: source.state }),
      };
    }),
  };
}

/** The last lines of one of an agent's containers (agent, postgres, redis). */
export async function serviceLogTail(
  options: RepoOptions & { name: string; service: 'agent' | 'postgres' | 'redis' | 'egress'; lines: number },
): Promise<{ name: string; service: string; lines: string[] }> {
  const context = await openRepo(options);
  const agent = requireAgent(context, validateAgentName(options.name));
  const container = await serviceContainer(context, agent, options.service);
  return {
    name: agent.name,
    service: options.service,
    lines: await containerLogTail(context.docker, container.id, options.lines),
  };
}

/** The container of one of an agent's services, or a one-line error when it has none. */
async function serviceContainer(context: RepoContext, agent: AgentRecord, service: string) {
  const [container] = await listContainers(context.docker, serviceLabels(agent, service));
  if (!container)
    throw new UsageError('no-such-service', `agent ${agent.name} has no ${service} container`, {
      hint: 'see berth ls; postgres and redis exist only with postgres.enabled and redis.enabled',
    });
  return container;
}

const SERVICES = ['agent', 'postgres', 'redis'] as const;
const FILE_LOGS = ['provision', ...HOOK_NAMES] as const;
/** The proxy's decisions, in the agent's logs folder (logs/egress/access.log). */
const EGRESS_LOG = 'access.log';

/** The logs of an agent one can follow: its provision's steps, the hooks that ran, its containers. */
export async function followableLogs(options: RepoOptions & { name: string }): Promise<string[]> {
  const context = await openRepo(options, { engine: false });
  const agent = requireAgent(context, validateAgentName(options.name));
  const dir = context.paths.agentLogs(agent.name);
  const files = FILE_LOGS.filter((source) => exists(namedLog(dir, source)));
  // Behind an egress proxy: its decisions.
  const egress =
    agent.egress && exists(join(context.paths.egressLogDir(agent.name), EGRESS_LOG)) ? ['egress'] : [];
  return [...files, ...egress, ...SERVICES.filter((service) => stackServices(agent).includes(service))];
}

/**
 * Calls `onText` with the end of one of an agent's logs (a hook's, its provision's, or a container's),
 * then with each thing written to it, until the returned stop.
 */
export async function followAgentLog(
  options: RepoOptions & { name: string; source: string; lines?: number },
  onText: (text: string) => void,
): Promise<() => void> {
  const context = await openRepo(options, {
    engine: (SERVICES as readonly string[]).includes(options.source),
  });
  const agent = requireAgent(context, validateAgentName(options.name));
  const lines = options.lines ?? 200;
  if ((SERVICES as readonly string[]).includes(options.source)) {
    const container = await serviceContainer(context, agent, options.source);
    return followContainerLogs(context.docker, container.id, lines, onText);
  }
  if (!(FILE_LOGS as readonly string[]).includes(options.source) && options.source !== 'egress')
    throw new UsageError('bad-log', `there is no log named "${options.source}"`, {
      hint: `logs: ${[...FILE_LOGS, 'egress', ...SERVICES].join(', ')}`,
    });
  const file =
    options.source === 'egress'
      ? join(context.paths.egressLogDir(agent.name), EGRESS_LOG)
      : context.paths.agentLog(agent.name, options.source);
  const offset = sizeOf(file);
  if (offset > 0) onText(lastLines(readTail(file, 64 * 1024).text, lines));
  return followFile(file, offset, onText);
}

function lastLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.slice(Math.max(0, lines.length - count - 1)).join('\n');
}
