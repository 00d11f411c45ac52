import { basename, dirname, join } from 'node:path';
import { ensureDir, removeTree, writeFile } from '../../adapters/files.js';
import { uncommittedChanges, uncommittedPatch } from '../../adapters/git.js';
import { redactText } from '../../plan/secrets.js';
import type { RepoContext } from '../context.js';

/**
 * Writes the worktree's uncommitted changes (untracked files too) to .git/berth/saved/<name>-<time>.patch,
 * a patch that applies to the branch; when there are none, nothing, and undefined.
 */
export async function saveUncommitted(
  context: RepoContext,
  name: string,
  worktree: string,
  /**
   * The agent's secrets: a value in the work (a token a hook wrote into .npmrc) is saved as ***. A
   * function is asked only when there is work to save.
   */
  redact: readonly string[] | (() => Promise<readonly string[]>) = [],
): Promise<string | undefined> {
  const at = { worktree, commonGitDir: context.commonGitDir };
  if ((await uncommittedChanges(at)).length === 0) return undefined;
  const values = typeof redact === 'function' ? await redact() : redact;
  const file = context.paths.savedPatch(name, context.runtime.now());
  const index = join(dirname(file), `.${basename(file)}.index`);
  ensureDir(dirname(file));
  try {
    writeFile(file, redactText(await uncommittedPatch(at, index), values), 0o600);
    return file;
  } finally {
    removeTree(index);
  }
}
