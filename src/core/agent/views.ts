import type { AgentView, EntryView, ErrorView, TaskView } from '../../contract.js';
import { messageOf, toBerthError } from '../../errors.js';
import { type AgentRecord, hasPostgres, stackServices } from '../../plan/agent.js';
import { databaseUrl, redisUrl } from '../../plan/env.js';
import { serviceVariables, variablePrefix } from '../../plan/services.js';
import type { TaskOutcome } from '../task/history.js';

/*
 * berth's shapes of an agent, from the inside out:
 * - AgentRecord (plan/agent.ts): what berth stores in state.json, passwords and all; only core reads it.
 * - AgentView (contract.ts): what any command, the MCP server or the UI shows of it: no passwords unless
 *   asked, joined with what Docker and git see now.
 * - EntryView (contract.ts): one name in a list: its AgentView (while it exists), its last task, or its
 *   error; `ls`, `show`, `up`, `run` and `complete` all use it.
 */

/** What the engine and git say about an agent's stack and worktree now. */
export interface LiveFacts {
  services: Record<string, string>;
  worktreeOk: boolean;
  /** While provisioning: the last step its provision log names. */
  step?: string;
}

export function expectedServices(agent: AgentRecord): string[] {
  return [...stackServices(agent), ...(agent.egress ? ['egress'] : [])];
}

/** The facts of a stack berth has just made and checked: every service running. */
export function freshFacts(agent: AgentRecord): LiveFacts {
  return {
    services: Object.fromEntries(expectedServices(agent).map((s) => [s, 'running'])),
    worktreeOk: true,
  };
}

export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

/** A value with every password and random value of the agent (its services' too) as ***. */
export function maskPasswords(agent: Pick<AgentRecord, 'passwords'>, value: string): string {
  let masked = value;
  for (const secret of Object.values(agent.passwords)) if (secret) masked = masked.split(secret).join('***');
  return masked;
}

export function agentView(
  agent: AgentRecord,
  live: LiveFacts,
  options: { showSecrets?: boolean; isRunning: (p: NonNullable<AgentRecord['owner']>) => boolean },
): AgentView {
  const show = (url: string) => (options.showSecrets ? url : maskPasswords(agent, redact(url)));
  const redis = redisUrl(agent, 'host');
  return {
    name: agent.name,
    branch: agent.branch,
    baseRef: agent.baseRef,
    state: abandoned(agent, options.isRunning)
      ? 'failed'
      : agent.status === 'ready'
        ? stackState(live.services)
        : agent.status,
    health: abandoned(agent, options.isRunning) ?? health(live),
    ...(agent.status === 'provisioning' && live.step && { step: live.step }),
    services: live.services,
    worktree: agent.worktree,
    envFile: agent.envFile,
    hostEnvFile: hostEnvFileOf(agent),
    ports: agent.ports,
    urls: {
      ...(hasPostgres(agent) && { database: show(databaseUrl(agent, 'host')) }),
      ...(redis ? { redis: show(redis) } : {}),
      ...Object.fromEntries(
        Object.entries(agent.services ?? {}).flatMap(([service, spec]) => {
          const url = serviceVariables(service, spec, agent, 'host')[`${variablePrefix(service)}_URL`];
          return url ? [[service, show(url)]] : [];
        }),
      ),
    },
    composeProject: agent.composeProject,
    composeFile: agent.composeFile,
    createdAt: agent.createdAt,
    expiry: agent.expiry,
    inUse: (agent.sessions ?? [])
      .filter((session) => options.isRunning(session.process))
      .map((session) => ({ kind: session.kind, pid: session.process.pid, since: session.since })),
    ...(agent.claude && {
      claude: {
        sessionId: agent.claude.sessionId,
        worktreeName: agent.claude.worktreeName,
        kind: agent.claude.kind,
        running: Boolean(agent.claude.process && options.isRunning(agent.claude.process)),
        ...(agent.claude.endedAt && { endedAt: agent.claude.endedAt }),
      },
    }),
  };
}

/** The host view of the agent's env (127.0.0.1 and leased ports), beside its compose file. */
export function hostEnvFileOf(agent: AgentRecord): string {
  return agent.hostEnvFile ?? `${agent.stateDir}/host.env`;
}

/**
 * Why a berth process left the agent half-made or half-removed (it died, or the engine went away), for
 * `berth gc` to finish; undefined while nothing is abandoned.
 */
function abandoned(
  agent: AgentRecord,
  isRunning: (p: NonNullable<AgentRecord['owner']>) => boolean,
): string | undefined {
  if (agent.status === 'provisioning' && agent.owner && !isRunning(agent.owner))
    return 'its provision was killed part-way: berth gc removes it';
  if (agent.status === 'removing' && agent.removal && !isRunning(agent.removal.by))
    return 'its removal was interrupted: berth gc finishes it';
  if (agent.status === 'failed')
    return `its provision failed and could not be undone (${agent.failure ?? 'unknown'}): berth gc removes it`;
  return undefined;
}

function stackState(services: Record<string, string>): AgentView['state'] {
  const states = Object.values(services);
  if (states.every((s) => s === 'running')) return 'running';
  if (states.every((s) => s === 'missing')) return 'missing';
  if (states.every((s) => s !== 'running')) return 'stopped';
  return 'partial';
}

function health(live: LiveFacts): string {
  const problems = Object.entries(live.services)
    .filter(([, state]) => state !== 'running')
    .map(([service, state]) => `${service} ${state}`);
  if (!live.worktreeOk) problems.push('worktree missing');
  return problems.length ? problems.join(', ') : 'ok';
}

/** A task outcome as the contract shows it (without the runner's process id, which is berth's). */
export function taskView(outcome: TaskOutcome): TaskView {
  const { runner: _runner, ...view } = outcome;
  return view;
}

export function errorView(error: unknown): ErrorView {
  const berth = toBerthError(error);
  return {
    code: berth.code,
    message: messageOf(berth).split('\n')[0] ?? '',
    ...(berth.hint && { hint: berth.hint }),
    ...(berth.logFile && { logFile: berth.logFile }),
    ...(berth.details.length > 0 && { details: berth.details }),
  };
}

export function successEntry(
  name: string,
  agent: AgentView | null,
  task: TaskOutcome | undefined,
): EntryView {
  return { name, outcome: 'success', agent, task: task ? taskView(task) : null, error: null };
}

export function errorEntry(name: string, error: unknown, agent: AgentView | null = null): EntryView {
  return { name, outcome: 'error', agent, task: null, error: errorView(error) };
}
