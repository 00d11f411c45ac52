import { UsageError } from '../errors.js';

/** The most a path given to the worktree file operations may hold, as Linux allows. */
const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;

export type WorktreeFileUse = 'read' | 'write' | 'list';

/**
 * A path inside an agent's worktree, as the names to walk from the worktree's root: relative, no `..`,
 * nothing absolute; `.` and empty parts dropped. Writes are refused under `.git` (the worktree's link to
 * its repository, git's and not the agent's content). Whether a name on the way is a symlink is known
 * only on disk: the walk refuses those (`adapters/confined-files.ts`).
 */
export function worktreePathNames(path: string, use: WorktreeFileUse): string[] {
  const refuse = (why: string, hint = 'give a path relative to the worktree, such as src/index.ts') =>
    new UsageError('bad-worktree-path', `the path ${JSON.stringify(path)} ${why}`, { hint });
  if (path.includes('\0')) throw refuse('holds a NUL byte');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw refuse(`is over ${MAX_PATH_BYTES} bytes`);
  if (path.startsWith('/')) throw refuse('is absolute: only paths inside the worktree are served');
  const names = path.split('/').filter((name) => name !== '' && name !== '.');
  if (names.includes('..')) throw refuse('climbs out with ..: only paths inside the worktree are served');
  if (names.some((name) => Buffer.byteLength(name) > MAX_NAME_BYTES))
    throw refuse(`has a name over ${MAX_NAME_BYTES} bytes`);
  if (names.length === 0 && use !== 'list') throw refuse('names no file', 'name a file in the worktree');
  if (use === 'write' && names.includes('.git'))
    throw refuse('is under .git, which is git`s, not the worktree`s content', 'write the files of the work');
  return names;
}

/** How a path's names read back in messages: relative to the worktree, `.` for its root. */
export function shownPath(names: readonly string[]): string {
  return names.length === 0 ? '.' : names.join('/');
}
