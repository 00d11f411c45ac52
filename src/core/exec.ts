import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { agentEnv, renderEnvFile } from '../plan/env.js';
import { validateAgentName } from '../plan/names.js';
import { openRepo, type RepoOptions, requireAgent } from './context.js';
import { agentContainerId, dockerExecArgs } from './hooks.js';
import { keepLeaseAlive } from './lease.js';

export interface ExecOptions extends RepoOptions {
  name: string;
  command: string[];
  /** Attach a TTY (default: when stdin is one). */
  tty?: boolean;
}

/** Runs a command in the agent's container as the host user, in the worktree; resolves to its exit code. */
export async function execInAgent(options: ExecOptions): Promise<number> {
  if (options.command.length === 0) {
    throw new UsageError('no-command', 'no command given', {
      hint: 'put the command after --: berth exec NAME -- npm test',
    });
  }
  const context = await openRepo(options);
  const agent = requireAgent(context, validateAgentName(options.name));
  const id = await agentContainerId(context, agent);
  const tty = options.tty ?? Boolean(process.stdin.isTTY);
  const stopRenewing = keepLeaseAlive(context, agent);
  const child = spawn('docker', dockerExecArgs(agent, id, options.command, tty), { stdio: 'inherit' });
  try {
    return await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
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
  if (existsSync(agent.envFile)) return readFileSync(agent.envFile, 'utf8');
  return renderEnvFile(agentEnv(agent, 'host'), `berth agent ${agent.name}: generated, not committed`);
}
