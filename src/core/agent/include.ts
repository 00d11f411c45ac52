import { join } from 'node:path';
import { copyFileKeepingMode, exists } from '../../adapters/files.js';
import { ignoredFilesIncluded } from '../../adapters/git.js';

export const WORKTREE_INCLUDE = '.worktreeinclude';

/**
 * Claude Code's `.worktreeinclude`: files git ignores in the main working tree that it names are copied
 * into the new worktree, modes kept. Being ignored, the copies are never committed.
 */
export async function copyWorktreeIncludes(root: string, worktree: string): Promise<number> {
  const includeFile = join(root, WORKTREE_INCLUDE);
  if (!exists(includeFile)) return 0;
  const files = await ignoredFilesIncluded(root, includeFile);
  for (const file of files) copyFileKeepingMode(join(root, file), join(worktree, file));
  return files.length;
}
