import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BerthError, EnvironmentError, UsageError } from '../errors.js';
import type { BranchFacts } from '../plan/branch.js';
import { findExecutable, inheritedEnv, type RunResult, run } from './programs.js';

/**
 * What berth's own git commands never do, whatever a repository's config says: run its hooks (an agent
 * can write the shared git folder, hooks included), ask an fsmonitor program, or honour replace refs (an
 * agent could make a commit read as another). Given as command-line config, which outranks every file.
 */
const SAFE_CONFIG = [
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.fsmonitor=false',
  '-c',
  'submodule.recurse=false',
];
const safeEnv = (extra: Record<string, string>) =>
  inheritedEnv({ GIT_TERMINAL_PROMPT: '0', GIT_NO_REPLACE_OBJECTS: '1', LC_ALL: 'C', ...extra });

/** Runs git with an argument array; returns stdout, or throws with git's own message. */
export async function git(
  cwd: string,
  args: string[],
  options: { allowFail?: boolean; input?: string; signal?: AbortSignal } = {},
) {
  const result = await run('git', [...SAFE_CONFIG, ...args], {
    cwd,
    env: safeEnv({}),
    ...(options.input !== undefined && { input: options.input }),
    ...(options.signal && { signal: options.signal }),
  });
  if (result.notStarted) throw notStarted(cwd);
  if (result.exitCode !== 0 && !options.allowFail) {
    throw new GitError(args, result.stderr.trim() || result.stdout.trim());
  }
  return result;
}

function notStarted(cwd: string): BerthError {
  if (!findExecutable('git')) {
    return new EnvironmentError('git-missing', 'git is not installed on this host', {
      hint: 'install git 2.38 or newer (apt-get install git)',
    });
  }
  return new UsageError('no-such-folder', `${cwd} does not exist`, {
    hint: "pass --repo with your repository's folder",
  });
}

/** A git command failed: git's own last line, and what usually fixes it. */
export class GitError extends BerthError {
  constructor(
    readonly args: string[],
    readonly output: string,
  ) {
    const lock = /Unable to create '([^']+\.lock)'/.exec(output)?.[1];
    super('git-failed', `git ${args[0]} failed: ${lastLine(output)}`, {
      hint: lock
        ? `another git command is running in this repository, or one crashed: if none runs, remove ${lock}`
        : 'put the repository right with git (git status says what it is in the middle of), then retry',
    });
    this.name = 'GitError';
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((line) => line.trim());
  // git puts the reason after "fatal:" or "error:"; hints ("hint: …") follow it.
  return lines.find((line) => /^(fatal|error):/.test(line)) ?? lines.at(-1) ?? text;
}

function failIfNotStarted(result: RunResult, cwd: string): RunResult {
  if (result.notStarted) throw notStarted(cwd);
  return result;
}

export interface RepoInfo {
  /** The main working tree's root. */
  root: string;
  /** The root of the working tree berth was run in: the main one, or a linked worktree. */
  here: string;
  commonGitDir: string;
}

/** The repository around `dir`: refuses bare repositories and repositories without commits. */
export async function repoInfo(dir: string): Promise<RepoInfo> {
  const probe = await git(dir, ['rev-parse', '--is-bare-repository', '--git-common-dir', '--show-toplevel'], {
    allowFail: true,
  });
  // --show-toplevel fails in a bare repository: ask again without it to tell which case this is.
  const bare =
    probe.exitCode !== 0 &&
    (await git(dir, ['rev-parse', '--is-bare-repository'], { allowFail: true })).stdout.trim() === 'true';
  if (bare) {
    throw new UsageError('bare-repo', `${dir} is a bare repository`, {
      hint: 'berth needs a repository with a working tree; clone it (git clone) and pass that folder',
    });
  }
  if (probe.exitCode !== 0) {
    throw new UsageError('not-a-repo', `${dir} is not inside a git repository`, {
      hint: 'run berth inside your repository, or pass --repo DIR',
    });
  }
  const [, common, top] = probe.stdout.split('\n');
  if (!top) {
    throw new UsageError('not-a-repo', `${dir} is not inside a git working tree`, {
      hint: 'run berth inside your repository, or pass --repo DIR',
    });
  }
  const commonGitDir = realpathSync(
    isAbsolute(common ?? '') ? (common as string) : resolve(dir, common ?? '.git'),
  );
  // From inside a linked worktree, the main working tree is the parent of the common git directory.
  const here = realpathSync(top);
  const root = commonGitDir.endsWith('/.git') ? commonGitDir.slice(0, -'/.git'.length) : here;
  const head = await git(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], { allowFail: true });
  if (head.exitCode !== 0) {
    throw new UsageError('no-commits', `the repository at ${root} has no commits yet`, {
      hint: 'make a first commit; agents branch off a commit',
    });
  }
  return { root, here, commonGitDir };
}

/** The commit a ref names, or undefined. `--end-of-options` keeps a ref like `--upload-pack=x` a ref. */
export async function resolveCommit(root: string, ref: string): Promise<string | undefined> {
  // No ref begins with "-": such a word is an option smuggled in as a ref, never a commit.
  if (ref.startsWith('-')) return undefined;
  const result = await git(root, ['rev-parse', '--verify', '-q', '--end-of-options', `${ref}^{commit}`], {
    allowFail: true,
  });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/** The branch HEAD is on (e.g. "main"), or undefined when HEAD is detached. */
export async function currentBranch(root: string): Promise<string | undefined> {
  const result = await git(root, ['symbolic-ref', '-q', '--short', 'HEAD'], { allowFail: true });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/** A full ref name for `ref` if it names a local branch (e.g. "main" → "refs/heads/main"). */
export async function isLocalBranch(root: string, branch: string): Promise<boolean> {
  const result = await git(root, ['show-ref', '--verify', '-q', `refs/heads/${branch}`], { allowFail: true });
  return result.exitCode === 0;
}

export async function isValidBranchName(root: string, branch: string): Promise<boolean> {
  if (branch.startsWith('-')) return false;
  const result = await git(root, ['check-ref-format', '--branch', branch], { allowFail: true });
  return result.exitCode === 0;
}

export interface WorktreeEntry {
  path: string;
  branch?: string;
  locked: boolean;
  lockReason?: string;
  prunable: boolean;
}

export async function listWorktrees(root: string): Promise<WorktreeEntry[]> {
  const { stdout } = await git(root, ['worktree', 'list', '--porcelain']);
  return stdout
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split('\n');
      const field = (name: string) => lines.find((line) => line === name || line.startsWith(`${name} `));
      return {
        path: field('worktree')?.slice('worktree '.length) ?? '',
        branch: field('branch')?.slice('branch refs/heads/'.length),
        locked: field('locked') !== undefined,
        lockReason: field('locked')?.slice('locked '.length) || undefined,
        prunable: field('prunable') !== undefined,
      };
    });
}

/** Adds a worktree on a new branch (no upstream tracking: it would take the config lock) or an existing one. */
export async function addWorktree(root: string, path: string, branch: string, startCommit?: string) {
  const args = startCommit
    ? ['worktree', 'add', '--no-track', '-b', branch, path, startCommit]
    : ['worktree', 'add', path, branch];
  await git(root, args);
}

export async function lockWorktree(root: string, path: string, reason: string) {
  await git(root, ['worktree', 'lock', '--reason', reason, path]);
}

export async function removeWorktree(root: string, path: string) {
  await git(root, ['worktree', 'unlock', path], { allowFail: true });
  await git(root, ['worktree', 'remove', '--force', '--force', path]);
}

export async function deleteBranch(root: string, branch: string) {
  await git(root, ['branch', '-D', '--end-of-options', branch]);
}

/** True when `path` is a checked-out worktree (git commands run in it act on it, not on a parent repo). */
export function isWorktreeFolder(path: string): boolean {
  return existsSync(join(path, '.git'));
}

/**
 * An agent's worktree as berth's git reaches it: its own git folder and the common one named outright
 * (GIT_DIR, GIT_COMMON_DIR, GIT_WORK_TREE), never found through the worktree's `.git` file or the
 * `commondir` file, which the agent can write: a `.git` file pointing at a folder of the agent's making
 * would hand git a config of the agent's (a filter driver is a command). The common config itself is
 * read-only in the agent's container.
 */
export interface AgentWorktree {
  worktree: string;
  commonGitDir: string;
}

/** The git folder of an agent's worktree, checked to be the one git made for it in the common folder. */
export function worktreeGitDir({ worktree, commonGitDir }: AgentWorktree): string {
  const dotGit = join(worktree, '.git');
  let text = '';
  try {
    text = readFileSync(dotGit, 'utf8');
  } catch {
    // no .git file: reported below
  }
  const named = /^gitdir: (.+)\n?$/.exec(text)?.[1];
  const admin = join(commonGitDir, 'worktrees');
  const gitDir = named && isAbsolute(named) ? resolve(named) : undefined;
  const id = gitDir && dirname(gitDir) === admin ? gitDir.slice(admin.length + 1) : undefined;
  const pointsBack =
    id !== undefined &&
    /^[^/]+$/.test(id) &&
    existsSync(join(gitDir as string, 'HEAD')) &&
    readText(join(gitDir as string, 'gitdir')) === dotGit;
  if (!pointsBack) {
    throw new UsageError(
      'worktree-git-changed',
      `${dotGit} no longer names its git folder in ${admin}: something in the worktree changed it`,
      {
        hint: `run \`git worktree repair ${worktree}\` in the main working tree, then retry`,
      },
    );
  }
  return gitDir as string;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function worktreeEnv(at: AgentWorktree, extra: Record<string, string> = {}) {
  return safeEnv({
    GIT_DIR: worktreeGitDir(at),
    GIT_COMMON_DIR: at.commonGitDir,
    GIT_WORK_TREE: at.worktree,
    ...extra,
  });
}

/** git in an agent's worktree, through the git folders berth knows (see AgentWorktree). */
async function gitInWorktree(at: AgentWorktree, args: string[], options: { allowFail?: boolean } = {}) {
  const result = failIfNotStarted(
    await run('git', [...SAFE_CONFIG, ...args], { cwd: at.worktree, env: worktreeEnv(at) }),
    at.worktree,
  );
  if (result.exitCode !== 0 && !options.allowFail) {
    throw new GitError(args, result.stderr.trim() || result.stdout.trim());
  }
  return result;
}

/**
 * Lines of `git status --porcelain`: empty when everything is committed (ignored files do not count). A
 * submodule's own changes are not asked for: that runs git with the submodule's config, which the agent
 * can write; its commit moving still shows. A file the index hides from status (skip-worktree or
 * assume-unchanged, bits the agent can set) is not hidden: status then reads a copy of the index with
 * those bits cleared, in a private scratch folder.
 */
export async function uncommittedChanges(at: AgentWorktree): Promise<string[]> {
  const status = ['status', '--porcelain', '--ignore-submodules=dirty'];
  const [shown, listed] = await Promise.all([
    gitInWorktree(at, status),
    gitInWorktree(at, ['ls-files', '-v', '-z']),
  ]);
  // -v tags: S skip-worktree; a lowercase letter, assume-unchanged.
  const hidden = listed.stdout
    .split('\0')
    .filter((entry) => /^(S|[a-z]) /.test(entry))
    .map((entry) => entry.slice(2));
  if (hidden.length === 0) return lines(shown.stdout);
  const scratch = mkdtempSync(join(tmpdir(), 'berth-status-'));
  try {
    const index = join(scratch, 'index');
    // The worktree's git folder is the agent's to write: its index is copied only as a regular file.
    const own = join(worktreeGitDir(at), 'index');
    if (!lstatSync(own).isFile()) throw new GitError(['status'], `${own} is not a regular file`);
    copyFileSync(own, index);
    const env = worktreeEnv(at, { GIT_INDEX_FILE: index });
    const gitIn = (args: string[], input?: string) =>
      run('git', [...SAFE_CONFIG, ...args], { cwd: at.worktree, env, ...(input !== undefined && { input }) });
    // One bit per command: given both, update-index clears the first only.
    for (const bit of ['--no-skip-worktree', '--no-assume-unchanged']) {
      const cleared = await gitIn(['update-index', bit, '-z', '--stdin'], `${hidden.join('\0')}\0`);
      if (cleared.exitCode !== 0) throw new GitError(['update-index', bit], cleared.stderr);
    }
    const full = await gitIn(status);
    if (full.exitCode !== 0) throw new GitError(status, full.stderr);
    return lines(full.stdout);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const lines = (text: string) => text.split('\n').filter(Boolean);

/**
 * Folders in the worktree that are git repositories of their own and that git does not track (an agent's
 * `git init`, a scaffolder's): `git add` would record each as a commit of it (a gitlink), not its files,
 * and fails on one without a commit. Found in the untracked folders (not ignored, links not followed);
 * relative to the worktree.
 */
export async function embeddedRepositories(at: AgentWorktree): Promise<string[]> {
  const { stdout } = await gitInWorktree(at, [
    'ls-files',
    '-z',
    '--others',
    '--exclude-standard',
    '--directory',
  ]);
  const found: string[] = [];
  const walk = (relative: string) => {
    const folder = join(at.worktree, relative);
    if (existsSync(join(folder, '.git'))) {
      found.push(relative);
      return;
    }
    for (const entry of readdirSync(folder, { withFileTypes: true }))
      if (entry.isDirectory()) walk(join(relative, entry.name));
  };
  for (const entry of stdout.split('\0').filter((e) => e.endsWith('/'))) walk(entry.slice(0, -1));
  return found.sort();
}

/**
 * What git says of a branch against the commit it started from and the base it is merged into (see
 * plan/branch.ts, which decides from these whether it is merged): whether it exists, how many commits
 * of its own it has, whether they are ancestors of the base, whether merging it into the base would
 * change nothing (a squash or rebase merge, or cherry-picks, landed the same content), and whether its
 * own commits change nothing at all.
 */
export async function branchFacts(
  root: string,
  branch: string,
  start: string,
  base: string,
): Promise<BranchFacts> {
  const ref = `refs/heads/${branch}`;
  const nothing = { inBaseByAncestry: false, inBaseByContent: false, changesNothing: true };
  const [exists, ownCommits] = await Promise.all([
    isLocalBranch(root, branch),
    commitCount(root, start, branch),
  ]);
  if (!exists) return { exists: false, ownCommits: 0, ...nothing };
  // Without commits of its own nothing else about it is asked (git processes cost a teardown): no
  // standing reads past the count then (plan/branch.ts).
  if (ownCommits === 0) return { exists: true, ownCommits: 0, ...nothing };
  const [ancestor, merged, baseTree, changes] = await Promise.all([
    git(root, ['merge-base', '--is-ancestor', ref, base], { allowFail: true }),
    git(root, ['merge-tree', '--write-tree', base, ref], { allowFail: true }),
    git(root, ['rev-parse', `${base}^{tree}`], { allowFail: true }),
    git(root, ['diff', '--quiet', '--end-of-options', start, ref], { allowFail: true }),
  ]);
  return {
    exists: true,
    ownCommits,
    inBaseByAncestry: ancestor.exitCode === 0,
    inBaseByContent:
      merged.exitCode === 0 &&
      baseTree.exitCode === 0 &&
      merged.stdout.split('\n')[0] === baseTree.stdout.trim(),
    changesNothing: changes.exitCode === 0,
  };
}

/** The commit a local branch points at, or undefined. */
export async function branchTip(root: string, branch: string): Promise<string | undefined> {
  return resolveCommit(root, `refs/heads/${branch}`);
}

/** True when another local branch, or HEAD, contains the branch's tip: deleting it loses no commit. */
export async function tipContainedElsewhere(root: string, branch: string): Promise<boolean> {
  const tip = await branchTip(root, branch);
  if (!tip) return true;
  const { stdout } = await git(root, [
    'for-each-ref',
    '--format=%(refname)',
    '--contains',
    tip,
    'refs/heads/',
  ]);
  const others = stdout.split('\n').filter((ref) => ref && ref !== `refs/heads/${branch}`);
  if (others.length > 0) return true;
  const head = await git(root, ['merge-base', '--is-ancestor', tip, 'HEAD'], { allowFail: true });
  return head.exitCode === 0;
}

/**
 * Saves every uncommitted change of a worktree (untracked files too, binary-safe) as a patch against its
 * HEAD, without touching its index: a temporary index takes the snapshot. The folders `leaveOut` names
 * (embedded repositories, saved otherwise) are left out.
 */
export async function uncommittedPatch(
  at: AgentWorktree,
  indexFile: string,
  leaveOut: readonly string[] = [],
): Promise<string> {
  const env = worktreeEnv(at, { GIT_INDEX_FILE: indexFile });
  const gitIn = (args: string[]) => run('git', [...SAFE_CONFIG, ...args], { cwd: at.worktree, env });
  const read = failIfNotStarted(await gitIn(['read-tree', 'HEAD']), at.worktree);
  const excluded = leaveOut.map((folder) => `:(exclude,literal)${folder}`);
  const add = read.exitCode === 0 ? await gitIn(['add', '-A', '--', '.', ...excluded]) : read;
  if (add.exitCode !== 0) throw new GitError(['add'], add.stderr);
  const diff = await gitIn(['diff', '--cached', '--binary', '--no-ext-diff', '--no-textconv', 'HEAD']);
  if (diff.exitCode !== 0) throw new GitError(['diff'], diff.stderr);
  return diff.stdout ? `${diff.stdout}\n` : '';
}

/** Drops git's record of a worktree whose folder is gone (what `git worktree prune` does, for one path only). */
export function forgetWorktree(commonGitDir: string, path: string): boolean {
  const adminRoot = join(commonGitDir, 'worktrees');
  if (!existsSync(adminRoot)) return false;
  for (const id of readdirSync(adminRoot)) {
    const gitdirFile = join(adminRoot, id, 'gitdir');
    const gitdir = existsSync(gitdirFile) ? readFileSync(gitdirFile, 'utf8').trim() : '';
    if (gitdir === join(path, '.git')) {
      rmSync(join(adminRoot, id), { recursive: true, force: true });
      return true;
    }
  }
  return false;
}

export async function gitIdentity(root: string): Promise<{ name: string; email: string } | undefined> {
  const { stdout } = await git(root, ['config', '--get-regexp', '^user\\.(name|email)$'], {
    allowFail: true,
  });
  const value = (key: string) =>
    stdout
      .split('\n')
      .findLast((line) => line.startsWith(`${key} `))
      ?.slice(key.length + 1);
  const name = value('user.name');
  const email = value('user.email');
  return name && email ? { name, email } : undefined;
}

/**
 * Whether the repository reads a config of each worktree's own (extensions.worktreeConfig, which `git
 * sparse-checkout` turns on): that file sits in the worktree's git folder, which the agent can write.
 */
export async function readsWorktreeConfig(root: string): Promise<boolean> {
  const result = await git(root, ['config', '--bool', '--get', 'extensions.worktreeConfig'], {
    allowFail: true,
  });
  return result.stdout.trim() === 'true';
}

/** Commits on `branch` that are not in `base` (the agent's work, counted against its base as it is now). */
export async function commitCount(root: string, base: string, branch: string): Promise<number> {
  const result = await git(root, ['rev-list', '--count', `${base}..refs/heads/${branch}`], {
    allowFail: true,
  });
  return Number(result.stdout.trim()) || 0;
}

/** How many commits `to` has that `from` does not (both commits, not names). */
export async function commitsAhead(root: string, from: string, to: string): Promise<number> {
  const result = await git(root, ['rev-list', '--count', `${from}..${to}`], { allowFail: true });
  return Number(result.stdout.trim()) || 0;
}

/** `git diff --shortstat` between two commits ("" when they hold the same files). */
export async function diffShortStat(root: string, from: string, to: string): Promise<string> {
  const result = await git(root, ['diff', '--shortstat', '--end-of-options', from, to], { allowFail: true });
  return result.stdout.trim();
}

/** The commit both have in common, from which the branch's work is counted. */
export async function mergeBase(root: string, a: string, b: string): Promise<string | undefined> {
  const result = await git(root, ['merge-base', '--end-of-options', a, b], { allowFail: true });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

export async function hasRemotes(root: string): Promise<boolean> {
  return (await git(root, ['remote'])).stdout.trim() !== '';
}

export async function fetchAll(root: string, signal?: AbortSignal): Promise<void> {
  await git(root, ['fetch', '--all', '--prune', '--quiet'], { signal });
}

/** The upstream of a local branch (e.g. "origin/main"), or undefined. */
export async function upstreamOf(root: string, branch: string): Promise<string | undefined> {
  const result = await git(root, ['rev-parse', '--abbrev-ref', '--verify', '-q', `${branch}@{upstream}`], {
    allowFail: true,
  });
  return result.exitCode === 0 && result.stdout.trim() ? result.stdout.trim() : undefined;
}

export type RebaseResult = { ok: true } | { ok: false; conflicts: string[] };

/** Rebases the worktree's branch onto `onto`; on a conflict, aborts (nothing changed) and names the files. */
export async function rebaseOrAbort(at: AgentWorktree, onto: string): Promise<RebaseResult> {
  const rebase = await gitInWorktree(at, ['rebase', '--end-of-options', onto], { allowFail: true });
  if (rebase.exitCode === 0) return { ok: true };
  const conflicted = await gitInWorktree(at, ['diff', '--name-only', '--diff-filter=U'], {
    allowFail: true,
  });
  await gitInWorktree(at, ['rebase', '--abort'], { allowFail: true });
  return { ok: false, conflicts: conflicted.stdout.split('\n').filter(Boolean) };
}

/**
 * A file of a commit in a repository an agent can write, read so that what the agent wrote cannot pass
 * for it: git reads a loose object without checking its hash, so an object file the agent rewrote would
 * read as the commit's own. The commit is fetched (depth 1) into a fresh folder of berth's through
 * upload-pack, which is safe in a repository of untrusted config, and index-pack checks every object it
 * receives against its name; a copy that does not check out fails. Undefined when the commit lacks the file.
 */
export async function fileAtCheckedCommit(
  source: string,
  commit: string,
  path: string,
  scratch: string,
): Promise<string | undefined> {
  rmSync(scratch, { recursive: true, force: true });
  try {
    await git(dirname(scratch), ['init', '--quiet', '--bare', '--end-of-options', scratch]);
    await git(scratch, [
      'fetch',
      '--quiet',
      '--no-tags',
      '--depth=1',
      '--end-of-options',
      `file://${source}`,
      commit,
    ]);
    return await fileAtCommit(scratch, commit, path);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Clones `url` into `dir` (a fleet host's cache of a task's repository). */
export async function cloneRepo(url: string, dir: string): Promise<void> {
  await git(dirname(dir), ['clone', '--quiet', '--no-hardlinks', '--end-of-options', url, dir]);
}

/** Fetches every branch and tag of origin, dropping branches it no longer has. */
export async function fetchOrigin(root: string): Promise<void> {
  await git(root, ['fetch', '--quiet', '--prune', '--tags', '--force', 'origin']);
}

/** The commit origin's branch points at (as last fetched), or undefined. */
export async function remoteBranchTip(root: string, branch: string): Promise<string | undefined> {
  return resolveCommit(root, `refs/remotes/origin/${branch}`);
}

/**
 * The remote's default branch and the commit it points at, asked of the remote itself (not the clone's
 * refs/remotes/origin/HEAD, which whoever can write the clone's git folder can point anywhere).
 */
export async function remoteHead(
  cwd: string,
  url: string,
): Promise<{ branch?: string; commit: string } | undefined> {
  const result = await git(cwd, ['ls-remote', '--symref', '--end-of-options', url, 'HEAD'], {
    allowFail: true,
  });
  if (result.exitCode !== 0) return undefined;
  const branch = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(result.stdout)?.[1];
  const commit = /^([0-9a-f]{40,64})\tHEAD$/m.exec(result.stdout)?.[1];
  return commit ? { ...(branch && { branch }), commit } : undefined;
}

export type PushResult = { ok: true } | { ok: false; reason: string };

/**
 * Pushes a local branch to origin as `remoteBranch`, replacing what is there only if it still is what
 * we saw (`expected`; undefined: the branch must not exist there yet). A retry of a task thus replaces a
 * dead attempt's push, and two pushes racing cannot both win.
 */
export async function pushReplacing(
  root: string,
  branch: string,
  remoteBranch: string,
  expected: string | undefined,
): Promise<PushResult> {
  const remoteRef = `refs/heads/${remoteBranch}`;
  const result = await git(
    root,
    [
      'push',
      '--quiet',
      '--porcelain',
      `--force-with-lease=${remoteRef}:${expected ?? ''}`,
      'origin',
      `refs/heads/${branch}:${remoteRef}`,
    ],
    { allowFail: true },
  );
  if (result.exitCode === 0) return { ok: true };
  return { ok: false, reason: lastLine(result.stderr.trim() || result.stdout.trim()) };
}

/** A file's text at a commit, or undefined when the commit has no such file. */
export async function fileAtCommit(root: string, commit: string, path: string): Promise<string | undefined> {
  const result = await git(root, ['show', '--end-of-options', `${commit}:${path}`], { allowFail: true });
  return result.exitCode === 0 ? result.stdout : undefined;
}

/** The commits of a local branch that no remote-tracking branch has, as one mailbox (`git am` applies it). */
export async function commitsAsPatches(root: string, branch: string): Promise<string> {
  const { stdout } = await git(root, [
    'format-patch',
    '--stdout',
    `refs/heads/${branch}`,
    '--not',
    '--remotes',
  ]);
  return stdout;
}

/** Local branches in a folder of branches (`berth` gives berth/a, berth/b). */
export async function localBranches(root: string, prefix: string): Promise<string[]> {
  const { stdout } = await git(root, ['for-each-ref', '--format=%(refname:short)', `refs/heads/${prefix}`]);
  return stdout.split('\n').filter(Boolean);
}

/** The blob or tree id of each path at a commit ('missing' where there is none): a key of their contents. */
export async function pathIdsAt(
  root: string,
  commit: string,
  paths: string[],
): Promise<Array<[string, string]>> {
  return Promise.all(
    paths.map(async (path): Promise<[string, string]> => {
      const clean = path.replace(/^\.\/+/, '').replace(/\/+$/, '');
      const result = await git(
        root,
        ['rev-parse', '--verify', '-q', '--end-of-options', `${commit}:${clean}`],
        {
          allowFail: true,
        },
      );
      return [clean, result.exitCode === 0 ? result.stdout.trim() : 'missing'];
    }),
  );
}

/**
 * Files git ignores in `root` that `.worktreeinclude` names (gitignore syntax): what Claude Code copies
 * into each new worktree (a .env with keys, local certificates). Tracked files are never among them.
 */
export async function ignoredFilesIncluded(root: string, includeFile: string): Promise<string[]> {
  const listed = await git(
    root,
    ['ls-files', '-z', '--others', '--ignored', `--exclude-from=${includeFile}`],
    {
      allowFail: true,
    },
  );
  const candidates = listed.stdout.split('\0').filter(Boolean);
  if (candidates.length === 0) return [];
  const ignored = await git(root, ['check-ignore', '-z', '--stdin'], {
    allowFail: true,
    input: `${candidates.join('\0')}\0`,
  });
  return ignored.stdout.split('\0').filter(Boolean);
}

/** The commits from `base` to `tip`, newest first: sha and subject. */
export async function commitLog(
  root: string,
  base: string,
  tip: string,
): Promise<Array<{ sha: string; subject: string }>> {
  const result = await git(root, ['log', '--format=%H%x00%s', '--end-of-options', `${base}..${tip}`]);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [sha = '', subject = ''] = line.split('\0');
      return { sha, subject };
    });
}

/** `git diff` between two commits, as a patch. */
export async function diffPatch(root: string, from: string, to: string): Promise<string> {
  return (await git(root, ['diff', '--end-of-options', from, to])).stdout;
}
