import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvironmentError } from '../errors.js';
import { Redactor } from '../plan/secrets.js';
import { CappedLog } from './files.js';
import { findExecutable, runAttached } from './programs.js';

/** Where a command runs: a container, as a user, in a folder. */
export interface ExecTarget {
  containerId: string;
  user: string;
  workdir: string;
}

/**
 * Every command berth runs in a container starts as `env BERTH_EXEC_ID=<id> <command…>`: the engine
 * lists it with that argument, so berth can find the process again to stop it.
 */
export const EXEC_MARKER = 'BERTH_EXEC_ID';

/** The docker client's path; a clear error when it is not installed. */
export function dockerBinary(): string {
  const binary = findExecutable('docker');
  if (!binary) {
    throw new EnvironmentError('docker-cli-missing', 'the docker command is not installed on this host', {
      hint: 'install the Docker client: berth host init --install does (as root), or apt-get install docker.io',
    });
  }
  return binary;
}

/** Arguments of `docker exec` running a command as the target's user in its folder. */
export function dockerExecArgs(target: ExecTarget, command: string[], tty = false): string[] {
  return [
    'exec',
    ...(tty ? ['-i', '-t'] : ['-i']),
    '-u',
    target.user,
    '-w',
    target.workdir,
    target.containerId,
    ...command,
  ];
}

export interface ExecOptions {
  tty?: boolean;
  /** Output to this (capped, rotated) log instead of this terminal. */
  logFile?: string;
  /** With a log: also copy the output here as it comes (stdout to stdout or stderr, stderr to stderr). */
  echo?: 'stdout' | 'stderr';
  /** With a log: also hand each piece of output here, with the stream it came on. */
  capture?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** When aborted, `stop` is asked to end the command inside the container, and berth waits for it. */
  signal?: AbortSignal;
  /**
   * Ends the command (found by its marker) inside the container, as killing the client would not;
   * false while the command is not (yet) running there.
   */
  stop?: (marker: string) => Promise<boolean>;
  /** Values replaced by *** in the log and its echo (secrets). */
  redact?: readonly string[];
}

export interface ExecResult {
  exitCode: number;
  /** The command was stopped on the signal. */
  stopped: boolean;
}

/** How long the docker client may take to exit once the command in the container was stopped. */
const CLIENT_GRACE_MS = 15_000;

/** Runs a command in a container; resolves to its exit code (128 + n when killed by signal n). */
export async function dockerExec(
  target: ExecTarget,
  command: string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const binary = dockerBinary();
  const marker = randomBytes(8).toString('hex');
  const args = dockerExecArgs(
    target,
    ['env', `${EXEC_MARKER}=${marker}`, ...command],
    options.tty && !options.logFile,
  );
  const log = options.logFile ? new CappedLog(options.logFile, undefined, options.redact) : undefined;
  // The client needs no folder of its own, and the caller's may be one this user cannot enter.
  const child = runAttached(binary, args, { piped: Boolean(log) });
  // What is echoed or captured passes a redactor, one per stream: no secret value leaves in either.
  const clean = { stdout: new Redactor(options.redact ?? []), stderr: new Redactor(options.redact ?? []) };
  const out =
    options.echo === 'stdout' ? process.stdout : options.echo === 'stderr' ? process.stderr : undefined;
  const pass = (stream: 'stdout' | 'stderr', text: Buffer) => {
    if (text.length === 0) return;
    options.capture?.(stream, text);
    if (stream === 'stdout') out?.write(text);
    else if (options.echo) process.stderr.write(text);
  };
  if (log) {
    child.stdout?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      pass('stdout', clean.stdout.push(chunk));
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      pass('stderr', clean.stderr.push(chunk));
    });
  }
  let stopped = false;
  let exited = false;
  const onAbort = async () => {
    stopped = true;
    const deadline = Date.now() + CLIENT_GRACE_MS;
    // The signal may come before the engine has started the command: look until it runs or is over.
    while (!exited && Date.now() < deadline) {
      if (await (options.stop?.(marker) ?? Promise.resolve(false)).catch(() => false)) break;
      await sleep(100);
    }
    if (!exited) setTimeout(() => child.kill('SIGKILL'), Math.max(0, deadline - Date.now())).unref();
  };
  if (options.signal?.aborted) void onAbort();
  else options.signal?.addEventListener('abort', () => void onAbort(), { once: true });
  const result = await child;
  exited = true;
  log?.close();
  if (log) {
    pass('stdout', clean.stdout.flush());
    pass('stderr', clean.stderr.flush());
  }
  if (result.exitCode === undefined && !result.signal)
    throw new EnvironmentError('docker-cli-failed', `could not run ${binary}: ${result.shortMessage}`, {
      hint: 'check that this user may run the docker command (the docker group)',
    });
  const exitCode = result.exitCode ?? 128 + 15;
  return { exitCode, stopped };
}
