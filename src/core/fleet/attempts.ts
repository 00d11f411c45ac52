import type { FleetStore } from '../../adapters/queue.js';
import type { FleetOutcome } from '../../contract.js';
import { type AttemptRecord, FLEET_KEYS } from '../../plan/fleet.js';

/**
 * berth's record of each attempt at a task, in the queue's Redis beside BullMQ's job: a hash per task,
 * a field per attempt (`<submission>.<n>`), written only by the host running that attempt. A later
 * attempt never reads an earlier one's bookkeeping as its own; it may read an earlier one's published
 * outcome, which is the task's outcome if the queue never took it.
 */
export type StoredAttempt = AttemptRecord & { outcome?: FleetOutcome };

function field(record: Pick<AttemptRecord, 'job' | 'number'>): string {
  return `${record.job}.${record.number}`;
}

export async function writeAttempt(store: FleetStore, task: string, record: StoredAttempt): Promise<void> {
  await store.set(FLEET_KEYS.attempts(task), field(record), JSON.stringify(record));
}

export async function readAttempts(store: FleetStore, task: string): Promise<StoredAttempt[]> {
  return parseAttempts(await store.all(FLEET_KEYS.attempts(task)));
}

/** The attempts of many tasks in one round trip, by task. */
export async function readAttemptsOf(
  store: FleetStore,
  tasks: string[],
): Promise<Map<string, StoredAttempt[]>> {
  const hashes = await store.allOf(tasks.map((task) => FLEET_KEYS.attempts(task)));
  return new Map(tasks.map((task, index) => [task, parseAttempts(hashes[index] ?? {})]));
}

function parseAttempts(hash: Record<string, string>): StoredAttempt[] {
  return Object.values(hash)
    .flatMap((text) => {
      try {
        return [JSON.parse(text) as StoredAttempt];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.job - b.job || a.number - b.number);
}

/** Forgets a task's attempts (it left the queue: removed, replaced). */
export async function forgetAttempts(store: FleetStore, task: string): Promise<void> {
  await store.drop(FLEET_KEYS.attempts(task));
}

/** A request to cancel one submission of a task (a later submission of the same id is not cancelled). */
export interface CancelRequest {
  job: number;
  at: string;
}

export async function requestCancel(store: FleetStore, task: string, request: CancelRequest): Promise<void> {
  await store.set(FLEET_KEYS.cancels, task, JSON.stringify(request));
}

export async function cancelRequests(store: FleetStore): Promise<Map<string, CancelRequest>> {
  const all = await store.all(FLEET_KEYS.cancels);
  const requests = new Map<string, CancelRequest>();
  for (const [task, text] of Object.entries(all)) {
    try {
      requests.set(task, JSON.parse(text) as CancelRequest);
    } catch {
      // Not one of berth's: ignored.
    }
  }
  return requests;
}

export async function dropCancel(store: FleetStore, task: string): Promise<void> {
  await store.remove(FLEET_KEYS.cancels, task);
}
