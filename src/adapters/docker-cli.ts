import { spawn } from 'node:child_process';
import { EnvironmentError } from '../errors.js';
import { closeFile, openForAppend } from './files.js';
import { findExecutable, run } from './process.js';

/** Where a command runs: a container, as a user, in a folder. */
export interface ExecTarget {
  containerId: string;
  user: string;
  workdir: string;
}

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
  /** Output to this file instead of this terminal. */
  logFile?: string;
  signal?: AbortSignal;
}

/** Runs a command in a container; resolves to its exit code (128 + n when killed by signal n). */
export async function dockerExec(target: ExecTarget, command: string[], options: ExecOptions = {}) {
  const binary = dockerBinary();
  if (options.logFile) {
    const result = await run(binary, dockerExecArgs(target, command), {
      logFile: options.logFile,
      signal: options.signal,
    });
    return result.exitCode;
  }
  const child = spawn(binary, dockerExecArgs(target, command, options.tty), {
    stdio: 'inherit',
    signal: options.signal,
  });
  return new Promise<number>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') resolve(130);
      else reject(error);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

export { closeFile, openForAppend };
