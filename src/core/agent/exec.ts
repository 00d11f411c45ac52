import { stopExec } from '../../adapters/docker.js';
import { dockerExec } from '../../adapters/docker-cli.js';
import { readText } from '../../adapters/files.js';
import { UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { agentEnv, renderEnvFile } from '../../plan/env.js';
import { validateAgentName } from '../../plan/names.js';
import { openRepo, type RepoContext, type RepoOptions, requireAgent } from '../context.js';
import { agentExecTarget } from './hooks.js';
import { keepLeaseAlive } from './lease.js';
import { withSession } from './sessions.js';

export interface ExecOptions extends RepoOptions {
  name: string;
  command: string[];
  /** Attach a TTY (default: when stdin is one). */
  tty?: boolean;
  /** Stops the command in the container (SIGTERM to berth). */
  signal?: AbortSignal;
}

/** Runs a command in the agent's container as the host user, in the worktree; resolves to its exit code. */
export async function execInAgent(options: ExecOptions): Promise<number> {
  if (options.command.length === 0) {
    throw new UsageError('no-command', 'no command given', {
      hint: 'put the command after --: berth exec NAME -- npm test',
    });
  }
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  requireAgent(context, name);
  return withSession(context, name, 'exec', async (agent) => {
    const result = await runInAgent(context, agent, options.command, options);
    return result.exitCode;
  });
}

/**
 * Runs a command in the agent's container as the host user, in its worktree, renewing the agent's
 * lease while it runs; output to this terminal (with a TTY when there is one) or to a log file. When
 * the signal aborts, the command is stopped inside the container (killing the client would not).
 */
export async function runInAgent(
  context: RepoContext,
  agent: AgentRecord,
  command: string[],
  options: { tty?: boolean; logFile?: string; signal?: AbortSignal } = {},
) {
  const target = await agentExecTarget(context, agent);
  const tty = !options.logFile && (options.tty ?? Boolean(process.stdin.isTTY && process.stdout.isTTY));
  const stopRenewing = keepLeaseAlive(context, agent);
  try {
    return await dockerExec(target, command, {
      tty,
      logFile: options.logFile,
      signal: options.signal,
      stop: (marker) => stopExec(context.docker, target.containerId, marker),
    });
  } finally {
    stopRenewing();
  }
}

/** An interactive shell: bash where the image has it, else sh. */
export function shellCommand(): string[] {
  return ['sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi'];
}

export interface EnvOptions extends RepoOptions {
  name: string;
  /** The container's view (service names) instead of the host's (127.0.0.1 and leased ports). */
  container?: boolean;
}

/** The agent's env file as on the host, or the same variables as the container sees them. */
export async function agentEnvText(options: EnvOptions): Promise<string> {
  const context = await openRepo(options, { engine: false });
  const agent = requireAgent(context, validateAgentName(options.name));
  if (options.container)
    return renderEnvFile(agentEnv(agent, 'container'), `berth agent ${agent.name}: container view`);
  return (
    readText(agent.envFile) ??
    renderEnvFile(agentEnv(agent, 'host'), `berth agent ${agent.name}: generated, not committed`)
  );
}
