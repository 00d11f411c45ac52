import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { openForAppend } from './files.js';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The program could not be started: not installed, or its working folder is missing. */
  notStarted?: boolean;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  /** Append stdout and stderr to this file instead of capturing them. */
  logFile?: string;
  /** Kills the program when aborted (Ctrl-C during a provision). */
  signal?: AbortSignal;
}

/**
 * Runs a program with an argument array (never a shell string) and never throws on a non-zero exit.
 * Plain child_process: it is on every command's hot path, and loads in no time.
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const log = options.logFile ? openForAppend(options.logFile) : undefined;
    const output = log ?? 'pipe';
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env as NodeJS.ProcessEnv | undefined,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', output, output],
      signal: options.signal,
      timeout: options.timeoutMs,
      killSignal: 'SIGTERM',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (options.input !== undefined) child.stdin?.end(options.input);
    let settled = false;
    const finish = (result: RunResult) => {
      if (settled) return;
      settled = true;
      if (log !== undefined) closeSync(log);
      resolve(result);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      // ENOENT: not installed; ABORT_ERR: cancelled by the signal, reported like a kill.
      const notStarted = error.code === 'ENOENT';
      finish({ exitCode: notStarted ? 127 : 130, stdout: '', stderr: error.message, notStarted });
    });
    child.once('close', (code, signal) => {
      const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8').replace(/\n$/, '');
      finish({
        exitCode: code ?? (signal ? 128 + (osConstants.signals[signal] ?? 15) : 1),
        stdout: text(stdout),
        stderr: text(stderr),
      });
    });
  });
}

/** The absolute path of an executable on PATH, or undefined. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
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
