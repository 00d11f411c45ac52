import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
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

/** Runs a program with an argument array (never a shell string) and never throws on a non-zero exit. */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const output = options.logFile ? { file: options.logFile, append: true } : 'pipe';
  const result = await execa(command, args, {
    cwd: options.cwd,
    env: options.env as Record<string, string> | undefined,
    input: options.input,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    reject: false,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    stdout: output,
    stderr: output,
    stripFinalNewline: true,
  });
  if (result.failed && result.exitCode === undefined) {
    return { exitCode: 127, stdout: '', stderr: result.shortMessage ?? 'could not start' };
  }
  return {
    exitCode: result.exitCode ?? 1,
    stdout: typeof result.stdout === 'string' ? result.stdout : '',
    stderr: typeof result.stderr === 'string' ? result.stderr : '',
  };
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
