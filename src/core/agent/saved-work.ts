import { basename, dirname, join } from 'node:path';
import { tarFolders } from '../../adapters/archive.js';
import { ensureDir, removeTree, writeFile } from '../../adapters/files.js';
import { embeddedRepositories, uncommittedChanges, uncommittedPatch } from '../../adapters/git.js';
import { redactPatch } from '../../plan/secrets.js';
import type { RepoContext } from '../context.js';

/**
 * Writes the worktree's uncommitted changes (untracked files too) to .git/berth/saved/<name>-<time>.patch,
 * a patch that applies to the branch; when there are none, nothing, and undefined. Folders that are git
 * repositories of their own (which a patch can hold only as a commit id) are saved whole, history and
 * all, to <name>-<time>.repositories.tar beside it, and the patch's first lines say so.
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
  const now = context.runtime.now();
  const file = context.paths.savedPatch(name, now);
  const index = join(dirname(file), `.${basename(file)}.index`);
  ensureDir(dirname(file));
  try {
    const repositories = await embeddedRepositories(at);
    const patch = redactPatch(await uncommittedPatch(at, index, repositories), values);
    let header = '';
    if (repositories.length > 0) {
      const archive = context.paths.savedRepositories(name, now);
      await tarFolders(worktree, repositories, archive);
      header = savedRepositoriesNote(repositories, archive);
    }
    writeFile(file, `${header}${patch}`, 0o600);
    return file;
  } finally {
    removeTree(index);
  }
}

/** The patch's first lines when repositories of the worktree were saved whole (git apply skips them). */
export function savedRepositoriesNote(repositories: readonly string[], archive: string): string {
  return [
    `# berth: ${repositories.join(', ')} ${repositories.length === 1 ? 'is a git repository of its own' : 'are git repositories of their own'}, not in this patch:`,
    `# saved whole (files and history, as they were, secrets not masked) in ${archive}`,
    '# to restore: tar -xf <that file> -C <a checkout of this branch>',
    '',
  ].join('\n');
}
