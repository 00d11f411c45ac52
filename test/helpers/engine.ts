import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from './processes.js';

/** Tests that stop this host's dockerd run only where berth owns it: CI, or a developer who asks. */
export const mayRestartEngine = process.env.CI === 'true' || process.env.BERTH_TEST_ENGINE_RESTART === '1';

/** Stops dockerd (SIGTERM) and waits until it is gone; returns whether it went. */
export async function stopDockerd(): Promise<boolean> {
  const pid = Number(readFileSync('/var/run/docker.pid', 'utf8'));
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 150 && processAlive(pid); i++) await sleep(200);
  return !processAlive(pid) && !existsSync('/var/run/docker.pid');
}

/**
 * Kills dockerd as a crash would (SIGKILL), with its port proxies (orphaned, they would hold the ports).
 * Not SIGTERM: Docker 20.10 still serves requests while it shuts down, and a network removal it is
 * interrupted in leaves a network store it panics on at every later start (moby#45057).
 */
export async function killDockerd(): Promise<boolean> {
  const pid = Number(readFileSync('/var/run/docker.pid', 'utf8'));
  const proxies = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(fields[1]) === pid && stat.includes('(docker-proxy)');
      } catch {
        return false;
      }
    })
    .map(Number);
  process.kill(pid, 'SIGKILL');
  for (const proxy of proxies) {
    try {
      process.kill(proxy, 'SIGKILL');
    } catch {}
  }
  for (let i = 0; i < 150 && processAlive(pid); i++) await sleep(100);
  return !processAlive(pid);
}
