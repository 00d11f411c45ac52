import { readFileSync } from 'node:fs';

import type { ProcessId } from '../plan/agent.js';

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if it is gone. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function currentProcess(): ProcessId {
  return { pid: process.pid, startTime: startTimeOf(process.pid) ?? '' };
}

export function isRunning(owner: ProcessId): boolean {
  const startTime = startTimeOf(owner.pid);
  return startTime !== undefined && startTime === owner.startTime;
}
