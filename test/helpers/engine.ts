import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Tests that stop this host's dockerd run only where berth owns it: CI, or a developer who asks. */
export const mayRestartEngine = process.env.CI === 'true' || process.env.BERTH_TEST_ENGINE_RESTART === '1';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops dockerd (SIGTERM) and waits until it is gone; returns whether it went. */
export async function stopDockerd(): Promise<boolean> {
  const pid = Number(readFileSync('/var/run/docker.pid', 'utf8'));
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 150 && processAlive(pid); i++) await sleep(200);
  return !processAlive(pid) && !existsSync('/var/run/docker.pid');
}
