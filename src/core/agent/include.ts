import { join, relative, sep } from 'node:path';
import { ConfinedPathError, writeConfined } from '../../adapters/confined-files.js';
import { exists, fileFacts, readBytes } from '../../adapters/files.js';
import { ignoredFilesIncluded } from '../../adapters/git.js';
import { UsageError } from '../../errors.js';

export const WORKTREE_INCLUDE = '.worktreeinclude';

/**
 * Claude Code's `.worktreeinclude`: files git ignores in the main working tree that it names are copied
 * into the new worktree, modes kept. Being ignored, the copies are never committed. Written without
 * following a link: the worktree holds the branch's files, and a branch an agent made may hold a link
 * where the copy goes (the copy would land, as root, wherever it points).
 */
export async function copyWorktreeIncludes(root: string, worktree: string): Promise<number> {
  const includeFile = join(root, WORKTREE_INCLUDE);
  if (!exists(includeFile)) return 0;
  const files = await ignoredFilesIncluded(root, includeFile);
  for (const file of files) {
    const from = join(root, file);
    const facts = fileFacts(from);
    const names = relative(worktree, join(worktree, file)).split(sep);
    try {
      writeConfined(
        worktree,
        names,
        readBytes(from),
        { uid: facts.uid, gid: facts.gid },
        facts.mode & 0o7777,
      );
    } catch (error) {
      if (!(error instanceof ConfinedPathError)) throw error;
      throw new UsageError(
        'include-refused',
        `${file}, named in ${WORKTREE_INCLUDE}, is not a plain file in the new worktree (${error.refusal}): berth copies nothing through a link`,
        {
          hint: `remove it from the branch the agent starts from (git rm --cached ${file}), then provision again`,
        },
      );
    }
  }
  return files.length;
}
