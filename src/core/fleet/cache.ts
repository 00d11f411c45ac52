import { dirname, join } from 'node:path';
import { ensureDir, exists, moveFile, readText, removeTree, writeFile } from '../../adapters/files.js';
import {
  cloneRepo,
  fetchOrigin,
  fileAtCheckedCommit,
  remoteHead,
  resolveCommit,
} from '../../adapters/git.js';
import { CONFIG_FILE, parseConfig } from '../../config/load.js';
import type { BerthConfig } from '../../config/schema.js';
import { EnvironmentError, messageOf, UsageError } from '../../errors.js';
import { cacheName, hostHooks, hostReach } from '../../plan/fleet.js';
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

/**
 * The remote's default branch as the remote says it is now: asked before the fetch, so the fetch brings
 * its commit. Not the clone's origin/HEAD: an agent's container can write the clone's git folder.
 */
export async function defaultBranch(paths: HostPaths, repo: string) {
  ensureDir(paths.fleetRepos);
  const head = await remoteHead(paths.fleetRepos, repo);
  if (!head) throw new RepoUnavailable(repo, 'it names no default branch (git ls-remote --symref … HEAD)');
  return head;
}

/** The commit a task starts from: origin's branch of that name, else a tag or commit; default the default branch. */
export async function baseCommit(
  root: string,
  repo: string,
  from: string | undefined,
  head: { commit: string },
): Promise<string> {
  const commit = from
    ? ((await resolveCommit(root, `refs/remotes/origin/${from}`)) ?? (await resolveCommit(root, from)))
    : await resolveCommit(root, head.commit);
  if (!commit) {
    throw new UsageError('unknown-ref', `${repo} has no branch, tag or commit "${from ?? 'HEAD'}"`, {
      hint: 'give --from a branch, tag or commit the repository has (or leave it out for its default branch)',
    });
  }
  return commit;
}

/** The berth.yaml a task runs with, where it came from, and its file for the provision to read. */
export interface TrustedConfig {
  file: string;
  source: string;
  config: BerthConfig;
}

/**
 * The berth.yaml a task runs with, from a source the task cannot write: the worker's own `--config`, or
 * the repository's default branch (its commit as the remote named it when the task started). Never the
 * task's `from` ref, nor anything an agent committed: those are the agents' output. A config that runs
 * commands on the host is refused unless the host's owner allowed host hooks.
 */
export async function trustedConfig(
  paths: HostPaths,
  root: string,
  attempt: string,
  source: { workerConfig?: string; head: { branch?: string; commit: string }; allowHostHooks: boolean },
): Promise<TrustedConfig> {
  let text: string;
  let from: string;
  if (source.workerConfig) {
    text = readText(source.workerConfig) ?? '';
    from = `the worker's --config ${source.workerConfig}`;
  } else {
    // The cache is a folder agents' containers write: its copy of the commit is checked, not trusted.
    ensureDir(dirname(paths.fleetConfigCheck(attempt)));
    try {
      text =
        (await fileAtCheckedCommit(root, source.head.commit, CONFIG_FILE, paths.fleetConfigCheck(attempt))) ??
        '';
    } catch (error) {
      throw new EnvironmentError(
        'cache-spoiled',
        `this host's clone ${root} holds a copy of ${source.head.commit.slice(0, 12)} that does not check out (${firstLine(messageOf(error))}): something changed its objects, and its berth.yaml is not read`,
        { hint: `remove the clone (rm -rf ${root}) so the next task clones the repository afresh` },
      );
    }
    from = `the default branch${source.head.branch ? ` ${source.head.branch}` : ''} at ${source.head.commit.slice(0, 12)}`;
  }
  const config = parseConfig(text, `berth.yaml (${from})`);
  // The worker's own --config is its owner's: its secrets are theirs to give. The repository's are not.
  const onHost = source.workerConfig ? hostHooks(config) : hostReach(config);
  if (onHost.length > 0 && !source.allowHostHooks) {
    throw new UsageError(
      'host-hooks-refused',
      `berth.yaml (${from}) runs commands on the host (${onHost.join(', ')}), and this worker does not allow host hooks`,
      {
        hint: 'run them in the agent container, or start the worker with --allow-host-hooks where the host’s owner trusts them',
      },
    );
  }
  const file = paths.fleetTaskConfig(attempt);
  writeFile(file, text, 0o600);
  return { file, source: from, config };
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
