import { readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { findExecutable, inheritedEnv, startDetached } from './programs.js';

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
export const DOCKERD_PID_FILE = '/var/run/docker.pid';
/** The containerd dockerd starts for itself: a killed one leaves this file too. */
export const CONTAINERD_PID_FILE = '/var/run/docker/containerd/containerd.pid';

export function findDockerd(): string | undefined {
  return findExecutable('dockerd', SBIN_DIRS);
}

/**
 * A dockerd that was killed leaves its pid file, and the next one refuses to start while that pid looks
 * alive: a zombie does (an init that does not reap it, as in many containers), or a pid reused by another
 * program. Removes the file when its process is not a running dockerd; true when it did.
 */
export function clearStalePidFile(file = DOCKERD_PID_FILE, program = 'dockerd'): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return false;
  }
  if (Number.isInteger(pid) && pid > 0 && isLive(pid, program)) return false;
  rmSync(file, { force: true });
  return true;
}

/** The stale pid files a killed engine leaves (dockerd's and its containerd's); the ones removed. */
export function clearStaleEnginePidFiles(): string[] {
  return [
    [DOCKERD_PID_FILE, 'dockerd'],
    [CONTAINERD_PID_FILE, 'containerd'],
  ].flatMap(([file, program]) => (clearStalePidFile(file, program) ? [file as string] : []));
}

function isLive(pid: number, program: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return stat.includes(`(${program})`) && state !== 'Z';
  } catch {
    return false;
  }
}

/** Starts dockerd in its own session, detached from this process, logging to a file. */
export function startDockerd(binary: string, logFile: string): void {
  startDetached(binary, [], inheritedEnv(), logFile);
}

/** The pid of the running dockerd its pid file names, if one runs. */
export function runningDockerd(): number | undefined {
  try {
    const pid = Number(readFileSync(DOCKERD_PID_FILE, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isLive(pid, 'dockerd') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Stops a running dockerd (and the containerd it started, which it stops itself): SIGTERM, then SIGKILL
 * if it has not gone within `graceMs`. True when one was running and is gone.
 */
export async function stopDockerd(graceMs = 30_000): Promise<boolean> {
  const pid = runningDockerd();
  if (pid === undefined) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isLive(pid, 'dockerd') && Date.now() < deadline) await sleep(200);
  if (isLive(pid, 'dockerd')) process.kill(pid, 'SIGKILL');
  while (isLive(pid, 'dockerd')) await sleep(100);
  clearStaleEnginePidFiles();
  return true;
}
