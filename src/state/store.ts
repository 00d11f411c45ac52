import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { AgentRecord } from '../plan/agent.js';

/**
 * berth's state for one repository: a JSON file in the repository's common git directory, changed only
 * under a lock (see README, "State"). Reads need no lock: writes replace the file atomically.
 */
export interface State {
  version: 1;
  agents: Record<string, AgentRecord>;
  /** Branches berth created and still answers for, with the agent they were made for. */
  branches?: Record<string, string>;
}

export function berthDir(commonGitDir: string): string {
  return join(commonGitDir, 'berth');
}

const stateFile = (dir: string) => join(dir, 'state.json');

// Many provisions may queue for one lock: wait long, in small steps. A holder that died is
// detected when its lock stops being refreshed (stale).
const LOCK_OPTIONS = {
  realpath: false,
  stale: 15_000,
  retries: { retries: 2000, factor: 1.1, minTimeout: 10, maxTimeout: 200 },
};

async function withLock<T>(dir: string, name: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const release = await lockfile.lock(join(dir, name), LOCK_OPTIONS);
  try {
    return await fn();
  } finally {
    await release();
  }
}

export function readState(dir: string): State {
  const file = stateFile(dir);
  if (!existsSync(file)) return { version: 1, agents: {} };
  return JSON.parse(readFileSync(file, 'utf8')) as State;
}

function writeState(dir: string, state: State): void {
  const file = stateFile(dir);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
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
