import { setTimeout as sleep } from 'node:timers/promises';

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the process is gone, up to `tries` looks 50 ms apart; whether it went. */
export async function processGone(pid: number, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries && processAlive(pid); i++) await sleep(50);
  return !processAlive(pid);
}
