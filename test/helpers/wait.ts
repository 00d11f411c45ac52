import { setTimeout as sleep } from 'node:timers/promises';

/** Retries `attempt` until it returns without throwing, or rethrows its last error after `timeoutMs`. */
export async function eventually<T>(
  attempt: () => Promise<T>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(intervalMs);
    }
  }
}
