import { readdirSync, readFileSync } from 'node:fs';
import type { ProcessId } from '../plan/agent.js';

/** Fields after the command name of /proc/<pid>/stat (the name may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if it is gone. */
function startTimeOf(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

export function currentProcess(): ProcessId {
  return { pid: process.pid, startTime: startTimeOf(process.pid) ?? '' };
}

export function isRunning(owner: ProcessId): boolean {
  const startTime = startTimeOf(owner.pid);
  return startTime !== undefined && startTime === owner.startTime;
}

/**
 * Processes and all their descendants, children after their parents (host pids, from /proc), each
 * once. A process whose parent ended was reparented (to the container's init): it counts only when it
 * is a root itself.
 */
export function processTree(roots: number | number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const parent = Number(statFields(pid)?.[1]);
    if (Number.isInteger(parent)) children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const tree = new Set<number>();
  const visit = (pid: number) => {
    if (tree.has(pid)) return;
    tree.add(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  for (const root of [roots].flat()) if (statFields(root)) visit(root);
  return [...tree];
}

/** The pid a host process has inside its own pid namespace (a container), from /proc/<pid>/status. */
export function namespacePid(hostPid: number): number | undefined {
  try {
    const line = /^NSpid:\s+(.+)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'))?.[1];
    return line ? Number(line.trim().split(/\s+/).at(-1)) : undefined;
  } catch {
    return undefined;
  }
}

/** Sends a signal to each process; returns those this process may not signal (another user's). */
export function signalAll(pids: number[], signal: NodeJS.Signals): number[] {
  const refused: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM') refused.push(pid);
    }
  }
  return refused;
}

/** The process with this pid now, identified by its start time too; undefined if there is none. */
export function processAt(pid: number): ProcessId | undefined {
  const startTime = startTimeOf(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** The short name of a process (/proc/<pid>/comm), or undefined if it is gone. */
export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** This process's parent, its parent's parent, and so on up to (not including) init. */
export function ancestors(pid = process.pid): number[] {
  const chain: number[] = [];
  for (let at = Number(statFields(pid)?.[1]); at > 1 && !chain.includes(at); ) {
    chain.push(at);
    at = Number(statFields(at)?.[1]);
  }
  return chain;
}
