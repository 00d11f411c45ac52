import { join } from 'node:path';
import { exists, moveFile, removeTree, writeFile } from '../../adapters/files.js';
import {
  cloneRepo,
  fetchOrigin,
  fileAtCommit,
  remoteDefaultBranch,
  resolveCommit,
} from '../../adapters/git.js';
import { CONFIG_FILE } from '../../config/load.js';
import { messageOf, UsageError } from '../../errors.js';
import { cacheName } from '../../plan/fleet.js';
import type { HostPaths } from '../../state/paths.js';
import { berthDir } from '../../state/paths.js';
import { withGitLock, withLock } from '../../state/store.js';

/** A task's repository cannot be had on this host: the task fails with this reason, the others go on. */
export class RepoUnavailable extends UsageError {
  constructor(repo: string, why: string) {
    super('repo-unavailable', `the repository ${repo} cannot be fetched: ${why}`, {
      hint: 'give a git URL or path every worker host can reach (and read), then submit the task again',
    });
  }
}

/**
 * This host's clone of a task's repository, fetched now: one clone per repository, kept between tasks.
 * A first clone goes to a temporary folder and is renamed, so a crash never leaves half a clone.
 */
export async function cachedRepo(paths: HostPaths, repo: string, suffix: string): Promise<string> {
  const name = cacheName(repo);
  const dir = join(paths.fleetRepos, name);
  await withLock(paths.fleetRepos, `${name}.lock`, async () => {
    try {
      if (exists(join(dir, '.git'))) {
        // Fetching rewrites refs: not while a provision or removal in this clone changes them.
        await withGitLock(berthDir(join(dir, '.git')), () => fetchOrigin(dir));
        return;
      }
      const temporary = `${dir}.cloning-${suffix}`;
      removeTree(temporary);
      try {
        await cloneRepo(repo, temporary);
        moveFile(temporary, dir);
      } finally {
        removeTree(temporary);
      }
    } catch (error) {
      throw new RepoUnavailable(repo, firstLine(messageOf(error)));
    }
  });
  return dir;
}

/** The commit a task starts from: origin's branch of that name, else a tag or commit; default origin's HEAD. */
export async function baseCommit(root: string, repo: string, from: string | undefined): Promise<string> {
  const ref = from ?? (await remoteDefaultBranch(root));
  const commit =
    ref && ((await resolveCommit(root, `refs/remotes/origin/${ref}`)) ?? (await resolveCommit(root, ref)));
  if (!commit) {
    throw new UsageError('unknown-ref', `${repo} has no branch, tag or commit "${from ?? 'HEAD'}"`, {
      hint: 'give --from a branch, tag or commit the repository has (or leave it out for its default branch)',
    });
  }
  return commit;
}

/** The task's berth.yaml as its base commit has it (an empty file, meaning the defaults, when there is none). */
export async function configAtBase(
  paths: HostPaths,
  root: string,
  task: string,
  commit: string,
): Promise<string> {
  const file = paths.fleetTaskConfig(task);
  writeFile(file, (await fileAtCommit(root, commit, CONFIG_FILE)) ?? '');
  return file;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
