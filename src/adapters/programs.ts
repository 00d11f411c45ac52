import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { CappedLog, closeFile, openForAppend } from './files.js';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The program could not be started: not installed, or its working folder is missing. */
  notStarted?: boolean;
  /** It ran past `timeoutMs` and was killed. */
  timedOut?: boolean;
}

export interface ProgramOptions {
  /** The program's working folder; default: the root folder, never the caller's (see NEUTRAL_CWD). */
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  /** Append stdout and stderr to this (capped, rotated) log instead of capturing them. */
  logFile?: string;
  /** Kills the program when aborted (Ctrl-C during a provision). */
  signal?: AbortSignal;
  /** Its own process group, killed whole on timeout or abort (a shell line and what it starts). */
  group?: boolean;
  /** Values replaced by *** in the log (secrets). */
  redact?: readonly string[];
}

/** How long a program has to exit after SIGTERM before it gets SIGKILL. */
const KILL_GRACE_MS = 5000;

/**
 * Where a program runs when the caller names no folder: one every user can enter. The caller's working
 * folder may be one the user running berth cannot enter (berth run as another user from a private
 * clone), and then no program starts there at all: a probe would read that as "not installed".
 */
export const NEUTRAL_CWD = '/';

/**
 * The one runner of programs: an argument array (never a shell string), never throws on a non-zero
 * exit, kills what it started when this process exits, and SIGKILLs what ignores SIGTERM.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: ProgramOptions = {},
): Promise<RunResult> {
  const log = options.logFile ? new CappedLog(options.logFile, undefined, options.redact) : undefined;
  const child = execa(command, args, {
    cwd: options.cwd ?? NEUTRAL_CWD,
    env: options.env,
    extendEnv: options.env === undefined,
    reject: false,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    input: options.input,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    forceKillAfterDelay: KILL_GRACE_MS,
    detached: options.group ?? false,
    buffer: log === undefined,
    stripFinalNewline: true,
  });
  if (log) {
    child.stdout?.on('data', (chunk: Buffer) => log.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => log.write(chunk));
  }
  if (options.group && child.pid !== undefined) {
    // A shell line's children share its group: stop them all, not only the shell.
    const pid = child.pid;
    const killGroup = () => {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {}
    };
    options.signal?.addEventListener('abort', killGroup, { once: true });
    if (options.timeoutMs) setTimeout(killGroup, options.timeoutMs).unref();
  }
  const result = await child;
  log?.close();
  const notStarted = result.exitCode === undefined && (result as { code?: string }).code === 'ENOENT';
  const signal = result.signal ? osConstants.signals[result.signal] : undefined;
  return {
    exitCode: result.exitCode ?? (notStarted ? 127 : signal ? 128 + signal : result.isCanceled ? 130 : 1),
    stdout: typeof result.stdout === 'string' ? result.stdout : '',
    // A program that could not start (EACCES, ENOENT) said nothing: the system's words stand for it.
    stderr:
      typeof result.stderr === 'string' && result.stderr !== ''
        ? result.stderr
        : result.exitCode === undefined
          ? String(result.originalMessage ?? '')
          : '',
    ...(notStarted && { notStarted }),
    ...(result.timedOut && { timedOut: true }),
  };
}

/**
 * Runs a program whose output is a stream for another (tar into an image import): its stdout, and its
 * result once it ends, so the caller can check the exit code too.
 */
export function runStreaming(command: string, args: readonly string[], options: { logFile?: string } = {}) {
  const log = options.logFile ? new CappedLog(options.logFile) : undefined;
  const child = execa(command, args, {
    cwd: NEUTRAL_CWD,
    reject: false,
    stdin: 'ignore',
    buffer: false,
    forceKillAfterDelay: KILL_GRACE_MS,
  });
  child.stderr?.on('data', (chunk: Buffer) => log?.write(chunk));
  const done = child.then((result): RunResult => {
    log?.close();
    return { exitCode: result.exitCode ?? 1, stdout: '', stderr: '' };
  });
  if (!child.stdout) throw new Error(`${command} has no stdout`);
  return { stdout: child.stdout, done };
}

/**
 * Runs a program attached to this terminal (`docker exec -it`), or with its output as streams for the
 * caller to log and echo: the child, whose result never rejects.
 */
export function runAttached(command: string, args: readonly string[], options: { piped: boolean }) {
  return execa(command, args, {
    reject: false,
    cwd: NEUTRAL_CWD,
    stdin: options.piped ? 'ignore' : 'inherit',
    stdout: options.piped ? 'pipe' : 'inherit',
    stderr: options.piped ? 'pipe' : 'inherit',
    buffer: false,
  });
}

/**
 * The environment a program berth starts inherits: berth's own process's, with `extra` over it. The one
 * place outside runtime.ts that reads the process's environment: programs run in it (decisions read the
 * injected Runtime's).
 */
export function inheritedEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { ...process.env, ...extra };
}

/** The absolute path of an executable on the inherited PATH (then in `moreDirs`), or undefined. */
export function findExecutable(name: string, moreDirs: readonly string[] = []): string | undefined {
  for (const dir of [...(inheritedEnv().PATH ?? '').split(delimiter), ...moreDirs]) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Starts a program that outlives this process (its own session, detached) and lets go of it: its
 * output goes to `logFile` (appended) when given, else nowhere.
 */
export function startDetached(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  logFile?: string,
): void {
  const log = logFile === undefined ? 'ignore' : openForAppend(logFile);
  try {
    const child = spawn(command, args, {
      cwd: NEUTRAL_CWD,
      detached: true,
      stdio: ['ignore', log, log],
      env,
    });
    child.on('error', () => {});
    child.unref();
  } finally {
    if (typeof log === 'number') closeFile(log);
  }
}
