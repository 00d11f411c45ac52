import { isAbsolute, relative } from 'node:path';
import { type ComposeCli, chooseCompose, composeMissing, surveyCompose } from '../adapters/compose.js';
import type { Engine } from '../adapters/docker.js';
import { connect, engineEndpoint } from '../adapters/docker.js';
import { exists, readText, realPath, writeFile } from '../adapters/files.js';
import { repoInfo } from '../adapters/git.js';
import { findExecutable } from '../adapters/programs.js';
import { type LoadOptions, loadConfig, loadConfigWithText } from '../config/load.js';
import type { BerthConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { AgentRecord } from '../plan/agent.js';
import { repoId } from '../plan/names.js';
import { type Runtime, runtimeFrom } from '../runtime.js';
import { berthDir, hostPaths, type RepoPaths, repoPaths } from '../state/paths.js';
import { readState } from '../state/store.js';
import { connectEngine } from './host/engine.js';

/** What every agent command needs to know about the repository it works on. */
export interface RepoContext {
  /** The main working tree: berth's state and agents belong to the repository as a whole. */
  root: string;
  /** The working tree the command runs in (a linked worktree, or the main one): its HEAD and berth.yaml. */
  here: string;
  commonGitDir: string;
  repoId: string;
  /** berth's folder in the common git directory: state, locks, and one folder per agent. */
  berthDir: string;
  paths: RepoPaths;
  docker: Engine;
  runtime: Runtime;
}

export interface RepoOptions {
  /** The repository (or any folder inside it); default: the current directory. */
  repo?: string;
  /** The clock, randomness, environment and process facts; tests fix them. */
  runtime?: Partial<Runtime>;
}

export async function openRepo(
  options: RepoOptions,
  needs: { engine: boolean } = { engine: true },
): Promise<RepoContext> {
  const runtime = runtimeFrom(options.runtime);
  // The engine the injected environment names (DOCKER_HOST), like every other setting.
  const [{ root, here, commonGitDir }, docker] = await Promise.all([
    repoInfo(options.repo ?? process.cwd()),
    needs.engine ? connectEngine(runtime.env) : connect(engineEndpoint(runtime.env)),
  ]);
  return {
    root,
    here,
    commonGitDir,
    repoId: repoId(commonGitDir),
    berthDir: berthDir(commonGitDir),
    paths: repoPaths(berthDir(commonGitDir)),
    docker,
    runtime,
  };
}

/**
 * The working tree whose berth.yaml berth trusts: the one the command runs in, unless that is inside an
 * agent's worktree or inside the common git directory (an agent can make a linked worktree there, and
 * what an agent writes, its berth.yaml included, never decides what runs on the host): then the main
 * working tree. Paths are compared as real paths, so a symbolic link does not hide where a tree is.
 */
export function trustedTree(context: RepoContext): string {
  const here = realPath(context.here);
  if (here === realPath(context.root)) return context.root;
  const untrusted = [
    context.commonGitDir,
    ...Object.values(readState(context.berthDir).agents).map((agent) => agent.worktree),
  ].map(realPath);
  return untrusted.some((dir) => isWithin(here, dir)) ? context.root : context.here;
}

function isWithin(path: string, dir: string): boolean {
  const rest = relative(dir, path);
  return rest === '' || (rest !== '..' && !rest.startsWith('../') && !isAbsolute(rest));
}

/**
 * berth.yaml of the trusted working tree (or the file given), with what the trusted tree's
 * devcontainer.json and compose files give (never an agent's: they decide what runs).
 */
export function loadRepoConfig(
  context: RepoContext,
  configPath?: string,
  options: LoadOptions = {},
): BerthConfig {
  return loadConfig(trustedTree(context), configPath, options);
}

/**
 * berth.yaml of the trusted working tree (or the file given) with what it imports, and the text to keep
 * as an agent's copy: berth.yaml's own, or (when a devcontainer.json or compose file gave fields) the
 * YAML of the whole, which reads nothing else again.
 */
export function loadRepoConfigWithText(
  context: RepoContext,
  configPath?: string,
  options: LoadOptions = {},
): { config: BerthConfig; text: string } {
  return loadConfigWithText(trustedTree(context), configPath, options);
}

/**
 * The config an agent was made with: the copy its provision kept in berth's folder (out of every
 * container's reach; complete, so nothing it imported is read again), else (an agent made before
 * copies were kept) the trusted working tree's.
 */
export function agentConfig(context: RepoContext, agent: AgentRecord): BerthConfig {
  if (agent.configFile && exists(agent.configFile))
    return loadConfig(trustedTree(context), agent.configFile, { imports: false });
  return loadConfig(trustedTree(context));
}

/**
 * The config an agent is brought up to date with (sync, egress reload): berth.yaml of the trusted working
 * tree as it is now (or the file given; never the agent's), and `keep`, which makes it the agent's copy
 * once the update has been applied.
 */
export function currentAgentConfig(
  context: RepoContext,
  agent: AgentRecord,
  configPath?: string,
): { config: BerthConfig; keep: () => void } {
  const { config, text } = loadRepoConfigWithText(context, configPath);
  return {
    config,
    keep: () => {
      if (agent.configFile) writeFile(agent.configFile, text, 0o600);
    },
  };
}

export function findAgent(context: RepoContext, name: string): AgentRecord | undefined {
  return readState(context.berthDir).agents[name];
}

export function requireAgent(context: RepoContext, name: string): AgentRecord {
  const agent = findAgent(context, name);
  if (!agent) {
    throw new UsageError('unknown-agent', `no agent named "${name}" in ${context.root}`, {
      hint: 'see the agents with `berth ls`, or create it with `berth provision`',
    });
  }
  return agent;
}

/**
 * The Compose to use among those `berth host init` found (cached in berth's host folder: probing
 * Compose v1 costs a Python start), else among those found now. BERTH_COMPOSE=v1|v2 chooses. Only a
 * complete answer is remembered: a Compose that failed to answer is not "not installed".
 */
export async function knownCompose(env: NodeJS.ProcessEnv): Promise<ComposeCli> {
  const cached = readComposeCache(env);
  const usable = cached?.filter((cli) => findExecutable(cli.command[0]));
  if (usable && usable.length === cached?.length) {
    const chosen = chooseCompose(usable, env);
    if (chosen) return chosen;
  }
  const { found, failures } = await surveyCompose();
  if (failures.length === 0) rememberCompose(found, env);
  const chosen = chooseCompose(found, env);
  if (!chosen) throw composeMissing(failures);
  return chosen;
}

function readComposeCache(env: NodeJS.ProcessEnv): ComposeCli[] | undefined {
  try {
    const cached = JSON.parse(readText(hostPaths(env).composeCache) ?? 'null') as unknown;
    return Array.isArray(cached) && cached.every((cli) => Array.isArray(cli?.command)) ? cached : undefined;
  } catch {
    return undefined;
  }
}

export function rememberCompose(found: ComposeCli[], env: NodeJS.ProcessEnv): void {
  try {
    writeFile(hostPaths(env).composeCache, `${JSON.stringify(found)}\n`);
  } catch {
    // Only a cache: a host folder we may not write costs a probe next time.
  }
}
