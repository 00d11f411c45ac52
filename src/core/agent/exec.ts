import { stopExec } from '../../adapters/docker.js';
import { dockerExec } from '../../adapters/docker-cli.js';
import { readTail } from '../../adapters/files.js';
import type { ResultOf } from '../../contract.js';
import { UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { agentEnv, renderEnvFile } from '../../plan/env.js';
import { validateAgentName } from '../../plan/names.js';
import { withSecretVariables } from '../../plan/secrets.js';
import { openRepo, type RepoContext, type RepoOptions, requireAgent } from '../context.js';
import { keepLeaseAlive } from './heartbeat.js';
import { agentExecTarget } from './hooks.js';
import { valuesToMask, variablesFor } from './secrets.js';
import { withSession } from './sessions.js';
import { maskPasswords, redact } from './views.js';

export interface ExecOptions extends RepoOptions {
  name: string;
  command: string[];
  /** Attach a TTY (default: when stdin is one). */
  tty?: boolean;
  /** Stops the command in the container (SIGTERM to berth). */
  signal?: AbortSignal;
}

/** Checks a command is given and names an agent of the repository, before anything runs. */
async function openForExec(options: ExecOptions): Promise<{ context: RepoContext; name: string }> {
  if (options.command.length === 0) {
    throw new UsageError('no-command', 'no command given', {
      hint: 'put the command after --: berth exec NAME -- npm test',
    });
  }
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  requireAgent(context, name);
  return { context, name };
}

/** Runs a command in the agent's container as the host user, in the worktree; resolves to its exit code. */
export async function execInAgent(options: ExecOptions): Promise<number> {
  const { context, name } = await openForExec(options);
  return withSession(context, name, 'exec', async (agent) => {
    const result = await runInAgent(context, agent, options.command, options);
    return result.exitCode;
  });
}

/**
 * Runs a command in the agent's container as the host user, in its worktree, renewing the agent's
 * expiry while it runs; output to this terminal (with a TTY when there is one) or to a log file. When
 * the signal aborts, the command is stopped inside the container (killing the client would not).
 */
export async function runInAgent(
  context: RepoContext,
  agent: AgentRecord,
  command: string[],
  options: {
    tty?: boolean;
    logFile?: string;
    echo?: 'stdout' | 'stderr';
    capture?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
    signal?: AbortSignal;
  } = {},
) {
  const target = await agentExecTarget(context, agent);
  const tty = !options.logFile && (options.tty ?? Boolean(process.stdin.isTTY && process.stdout.isTTY));
  // What the command prints of a secret becomes *** in its log (and its echo).
  const redact = options.logFile && agent.secrets?.length ? await valuesToMask(context, agent) : [];
  const stopRenewing = keepLeaseAlive(context, agent);
  try {
    return await dockerExec(
      target,
      withSecretVariables(variablesFor(agent.secrets ?? [], 'agent'), command),
      {
        tty,
        logFile: options.logFile,
        echo: options.echo,
        capture: options.capture,
        signal: options.signal,
        stop: (marker) => stopExec(context.docker, target.containerId, marker),
        redact,
      },
    );
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
  /** Passwords as they are; else *** (only where the result is data: the env file itself is for use). */
  showSecrets?: boolean;
}

/** The agent's env file as a tool on the host would source it, or as the container sees it. */
export async function agentEnvText(options: EnvOptions): Promise<string> {
  const context = await openRepo(options, { engine: false });
  const agent = requireAgent(context, validateAgentName(options.name));
  const view = options.container ? 'container' : 'host';
  return renderEnvFile(agentEnv(agent, view), `berth agent ${agent.name}: the ${view}'s view`);
}

/** The agent's variables as data: passwords masked unless asked. */
export async function agentEnvView(options: EnvOptions): Promise<ResultOf<'env'>> {
  const context = await openRepo(options, { engine: false });
  const agent = requireAgent(context, validateAgentName(options.name));
  const view = options.container ? 'container' : 'host';
  const env = agentEnv(agent, view);
  const secrets = new Set(Object.values(agent.passwords));
  const masked = Object.fromEntries(
    Object.entries(env).map(([key, value]) => {
      if (options.showSecrets) return [key, value];
      if (secrets.has(value)) return [key, '***'];
      return [key, maskPasswords(agent, value.includes('://') ? redact(value) : value)];
    }),
  );
  return { name: agent.name, view, env: masked };
}

/** How much of a captured command's output a result carries; the rest stays in its log. */
export const CAPTURED_OUTPUT_BYTES = 64 * 1024;

/**
 * Runs a command in the agent (as `exec` does) with its output kept in a log under the agent's logs
 * folder, and returns its exit code and the last part of its stdout and stderr, apart and together:
 * for --json and the MCP server.
 */
export async function execCaptured(
  options: ExecOptions & { timeoutMs?: number; maxBytes?: number },
): Promise<ResultOf<'exec'>> {
  const { context, name } = await openForExec(options);
  const logFile = context.paths.execLog(name, context.runtime.now());
  const timeout = options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined;
  const signal =
    timeout && options.signal ? AbortSignal.any([timeout, options.signal]) : (timeout ?? options.signal);
  const maxBytes = options.maxBytes ?? CAPTURED_OUTPUT_BYTES;
  const streams = { stdout: new Tail(maxBytes), stderr: new Tail(maxBytes) };
  const { exitCode } = await withSession(context, name, 'exec', (agent) =>
    runInAgent(context, agent, options.command, {
      logFile,
      signal,
      capture: (stream, chunk) => streams[stream].add(chunk),
    }),
  );
  const { text, truncated } = readTail(logFile, maxBytes);
  const [stdout, stderr] = [streams.stdout.text(), streams.stderr.text()];
  return {
    name,
    exitCode,
    exitCodeOf: 'command',
    stdout,
    stderr,
    output: text,
    truncated: truncated || streams.stdout.cut || streams.stderr.cut,
    logFile,
  };
}

/** The last `maxBytes` of a stream, kept in memory as it comes. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  cut = false;

  constructor(private readonly maxBytes: number) {}

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.maxBytes) {
      this.size -= this.chunks.shift()?.length ?? 0;
      this.cut = true;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    if (all.length <= this.maxBytes) return all.toString('utf8');
    this.cut = true;
    return all.subarray(all.length - this.maxBytes).toString('utf8');
  }
}
