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
 * After SIGKILL, how long its output may stay open before berth stops reading: a process that left the
 * group (setsid) and holds the pipe would otherwise hold the run, past its timeout and Ctrl-C.
 */
const PIPE_GRACE_MS = 1000;

/** The most output kept of one program (its two streams together): beyond it the program is stopped, and fails. */
export const CAPTURE_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Where a program runs when the caller names no folder: one every user can enter. The caller's working
 * folder may be one the user running berth cannot enter (berth run as another user from a private
 * clone), and then no program starts there at all: a probe would read that as "not installed".
 */
export const NEUTRAL_CWD = '/';

/**
 * What `run` started and has not seen end (its output still open): stopped when this process exits.
 * What a shell line leaves running in the background after its run ended is not followed.
 */
const running = new Set<() => void>();
let stopOnExit = false;

function stopWhenThisProcessExits(stop: () => void): () => void {
  running.add(stop);
  if (!stopOnExit) {
    stopOnExit = true;
    process.on('exit', () => {
      for (const each of running) each();
    });
  }
  return () => running.delete(stop);
}

/**
 * The one runner of programs: an argument array (never a shell string), never throws on a non-zero
 * exit, stops what it started when this process exits, and SIGKILLs what ignores SIGTERM.
 * Plain child_process: it is on every command's hot path (a provision asks git a dozen questions), and
 * execa costs about 3 ms of CPU more per program (measured: bench/results/2026-11-27-regression.md).
 */
export function run(
  command: string,
  args: readonly string[],
  options: ProgramOptions = {},
): Promise<RunResult> {
  if (options.signal?.aborted) {
    return Promise.resolve({ exitCode: 130, stdout: '', stderr: `${command} was not started: cancelled` });
  }
  return new Promise((resolve) => {
    const log = options.logFile ? new CappedLog(options.logFile, undefined, options.redact) : undefined;
    const group = options.group ?? false;
    const child = spawn(command, args, {
      cwd: options.cwd ?? NEUTRAL_CWD,
      env: (options.env ?? inheritedEnv()) as NodeJS.ProcessEnv,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: group,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let captured = 0;
    let overflowed = false;
    const keep = (into: Buffer[]) => (chunk: Buffer) => {
      if (log) return log.write(chunk);
      if (overflowed) return;
      captured += chunk.length;
      if (captured > CAPTURE_MAX_BYTES) {
        overflowed = true;
        stop();
        return;
      }
      into.push(chunk);
    };
    child.stdout?.on('data', keep(stdout));
    child.stderr?.on('data', keep(stderr));
    if (options.input !== undefined) {
      // A program that exits without reading its input closes the pipe: not an error of berth's.
      child.stdin?.on('error', () => {});
      child.stdin?.end(options.input);
    }
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    // A group (a shell line and what it starts) is signalled whole, even once the shell has ended: what
    // it started in the background may hold its output open (and the run with it). Else the program alone,
    // while it runs.
    const signal = (name: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        if (group) process.kill(-child.pid, name);
        else if (child.exitCode === null && child.signalCode === null) child.kill(name);
      } catch {}
    };
    function stop() {
      signal('SIGTERM');
      killTimer ??= setTimeout(() => {
        signal('SIGKILL');
        killTimer = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, PIPE_GRACE_MS);
      }, KILL_GRACE_MS);
    }
    const timeout =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            stop();
          }, options.timeoutMs);
    options.signal?.addEventListener('abort', stop, { once: true });
    const forget = stopWhenThisProcessExits(() => signal('SIGTERM'));
    let settled = false;
    const finish = (result: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', stop);
      forget();
      log?.close();
      resolve(result);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Started, then a signal could not be sent: the program's own end still comes.
      if (child.pid !== undefined) return;
      // Not started: not installed or its folder missing (ENOENT), or not executable; the system's words.
      finish({
        exitCode: error.code === 'ENOENT' ? 127 : 126,
        stdout: '',
        stderr: error.message,
        ...(error.code === 'ENOENT' && { notStarted: true }),
      });
    });
    child.once('close', (code, signalName) => {
      const text = (chunks: Buffer[]) =>
        Buffer.concat(chunks)
          .toString('utf8')
          .replace(/\r?\n$/, '');
      const number = signalName ? osConstants.signals[signalName] : undefined;
      if (overflowed) {
        finish({
          exitCode: code === 0 || code === null ? 1 : code,
          stdout: '',
          stderr: `its output passed ${CAPTURE_MAX_BYTES / 1024 / 1024} MiB: berth stopped it`,
        });
        return;
      }
      finish({
        exitCode: code ?? (number ? 128 + number : 1),
        stdout: text(stdout),
        stderr: text(stderr),
        ...(timedOut && { timedOut: true }),
      });
    });
  });
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
