import { spawn } from 'node:child_process';
import { closeFile, openForAppend } from './files.js';
import { findExecutable } from './process.js';

const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;

export function findDockerd(): string | undefined {
  return findExecutable('dockerd', SBIN_PATH);
}

/** Starts dockerd in its own session, detached from this process, logging to a file. */
export function startDockerd(binary: string, logFile: string): void {
  const log = openForAppend(logFile);
  try {
    const child = spawn(binary, [], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
  } finally {
    closeFile(log);
  }
}
