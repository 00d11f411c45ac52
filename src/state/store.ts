import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { ensureDir, readText, writeFileAtomic } from '../adapters/files.js';
import { BerthError, interrupted } from '../errors.js';
import { type AgentRecord, storedAgentRecordSchema } from '../plan/agent.js';
import { branchRecordSchema } from '../plan/branch.js';
import { poolMemberSchema } from '../plan/pool.js';
import { repoPaths } from './paths.js';

/**
 * berth's state for one repository: a JSON file in the repository's common git directory, changed only
 * under a lock (see README, "State"). Reads need no lock: writes replace the file atomically.
 */
export const STATE_VERSION = 1;

const stateSchema = z.object({
  version: z.literal(STATE_VERSION),
  agents: z.record(z.string(), storedAgentRecordSchema),
  /**
   * Branches berth created and still answers for: while their agent lives, and after it when they were
   * kept for unmerged work (until `gc --merged` finds them merged). With the agent they were made for,
   * and where they started and merge into (records of older berths hold the agent's name only).
   */
  branches: z.record(z.string(), z.union([z.string(), branchRecordSchema])).optional(),
  /** The warm pool: environments made ahead of agents, by id. */
  pool: z.record(z.string(), poolMemberSchema).optional(),
});

export type State = z.output<typeof stateSchema>;

// Many provisions may queue for one lock: wait long, in small steps. A holder that died is
// detected when its lock stops being refreshed (stale).
const LOCK_OPTIONS = {
  realpath: false,
  stale: 15_000,
  retries: { retries: 2000, factor: 1.1, minTimeout: 10, maxTimeout: 200 },
};

export async function withLock<T>(dir: string, name: string, fn: () => Promise<T>): Promise<T> {
  ensureDir(dir);
  const release = await lockfile.lock(join(dir, name), LOCK_OPTIONS);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Takes a lock if nobody holds it; undefined if somebody does. */
export async function tryLock(dir: string, name: string): Promise<(() => Promise<void>) | undefined> {
  ensureDir(dir);
  try {
    return await lockfile.lock(join(dir, name), { realpath: false, stale: LOCK_OPTIONS.stale, retries: 0 });
  } catch (error) {
    if ((error as { code?: string }).code === 'ELOCKED') return undefined;
    throw error;
  }
}

/**
 * A lock held across long work (a template build runs migrate and seed): tries now, else says so once
 * and waits as long as the holder lives. A holder that died stops refreshing it and loses it in 15 s.
 */
export async function holdLongLock(
  dir: string,
  name: string,
  options: { onWait: () => void; signal?: AbortSignal },
): Promise<() => Promise<void>> {
  ensureDir(dir);
  const file = join(dir, name);
  const single = { realpath: false, stale: LOCK_OPTIONS.stale, retries: 0 };
  try {
    return await lockfile.lock(file, single);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ELOCKED') throw error;
  }
  options.onWait();
  for (;;) {
    if (options.signal?.aborted) throw interrupted();
    try {
      return await lockfile.lock(file, single);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ELOCKED') throw error;
    }
    await sleep(250);
  }
}

export function readState(dir: string): State {
  const { stateFile, stateBackup } = repoPaths(dir);
  const text = readText(stateFile);
  if (text === undefined) return { version: STATE_VERSION, agents: {} };
  const checked = checkState(text);
  if ('state' in checked) return checked.state;
  const backupGood = 'state' in checkState(readText(stateBackup) ?? '');
  throw new BerthError('state-corrupt', `berth's state file ${stateFile} ${checked.problem}`, {
    hint: backupGood
      ? `restore the last good state (cp ${stateBackup} ${stateFile}), then run berth gc`
      : `move it aside (mv ${stateFile} ${stateFile}.broken); berth gc then removes what berth made, by label`,
  });
}

/** A state file's text read (parsed and checked once), or what is wrong with it. */
function checkState(text: string): { state: State } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `is not valid JSON (${(error as Error).message})` };
  }
  const version = (value as { version?: unknown } | null)?.version;
  if (version !== STATE_VERSION) {
    return {
      problem: `has version ${JSON.stringify(version)}, which this berth (state version ${STATE_VERSION}) cannot read`,
    };
  }
  const result = stateSchema.safeParse(value);
  if (result.success) return { state: result.data };
  const issue = result.error.issues[0];
  return {
    problem: `is not a valid berth state: ${issue?.path.join('.') || '(top level)'}: ${issue?.message}`,
  };
}

function writeState(dir: string, state: State): void {
  const { stateFile, stateBackup } = repoPaths(dir);
  const previous = readText(stateFile);
  // The state was read (and so checked) under this same lock: it is the last good one.
  if (previous !== undefined) writeFileAtomic(stateBackup, previous, 0o600);
  writeFileAtomic(stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

/** Reads the state under the lock, lets `change` modify it, and writes it back before releasing. */
export async function updateState<T>(dir: string, change: (state: State) => T | Promise<T>): Promise<T> {
  return withLock(dir, 'state', async () => {
    const state = readState(dir);
    const result = await change(state);
    writeState(dir, state);
    return result;
  });
}

/**
 * Serialises changes to git metadata (worktrees, branches, config) from berth's processes: concurrent
 * `git worktree add` on one repository fails inside git now and then.
 */
export function withGitLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  return withLock(dir, 'git-metadata', fn);
}

export type { AgentRecord };
