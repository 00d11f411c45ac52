import { createExclusive, readText, removeFile } from '../../adapters/files.js';
import { UsageError } from '../../errors.js';
import type { ProcessId } from '../../plan/agent.js';
import type { Runtime } from '../../runtime.js';
import type { HostPaths } from '../../state/paths.js';

/**
 * One fleet worker per host (per berth host folder): it alone clears the host's leftovers at start,
 * which would be another live worker's tasks. A worker that was killed leaves its file; its process is
 * gone, so the next one takes over.
 */
export async function holdWorkerLock<T>(
  paths: HostPaths,
  runtime: Runtime,
  work: () => Promise<T>,
): Promise<T> {
  const self = runtime.self();
  for (let tries = 0; !createExclusive(paths.fleetWorker, `${JSON.stringify(self)}\n`); tries += 1) {
    const holder = readHolder(paths.fleetWorker);
    if (holder && runtime.isRunning(holder)) {
      throw new UsageError('worker-running', `a fleet worker already runs on this host (pid ${holder.pid})`, {
        hint: 'one worker per host runs every slot: stop it (SIGTERM drains it) or give it more --slots',
      });
    }
    if (tries > 3) throw new Error(`cannot take ${paths.fleetWorker}`);
    removeFile(paths.fleetWorker);
  }
  try {
    return await work();
  } finally {
    removeFile(paths.fleetWorker);
  }
}

function readHolder(file: string): ProcessId | undefined {
  try {
    return JSON.parse(readText(file) ?? 'null') ?? undefined;
  } catch {
    return undefined;
  }
}
