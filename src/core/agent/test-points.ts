import { setTimeout as sleep } from 'node:timers/promises';
import { exists } from '../../adapters/files.js';

/**
 * Points where a test stops berth between two steps, to see what the world is left with: named by the
 * step just done (a provision's steps; `pool-stack`, `pool-leased` in a pool fill).
 * BERTH_TEST_CRASH_AFTER=<step> kills this process there (as a crash or kill -9 would).
 */
export function crashForTest(env: NodeJS.ProcessEnv, completed: string): void {
  if (env.BERTH_TEST_CRASH_AFTER === completed) process.kill(process.pid, 'SIGKILL');
}

/**
 * BERTH_TEST_HOLD_AFTER=<step>:<file> makes berth wait after that step until the file exists (the test
 * changes the world meanwhile, then makes it).
 */
export async function holdForTest(env: NodeJS.ProcessEnv, completed: string): Promise<void> {
  const [step, file] = (env.BERTH_TEST_HOLD_AFTER ?? '').split(/:(.*)/s);
  if (step !== completed || !file) return;
  while (!exists(file)) await sleep(100);
}
