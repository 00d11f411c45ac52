import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { type ComposeCli, detectCompose } from '../adapters/compose.js';
import { connect } from '../adapters/docker.js';
import { repoInfo } from '../adapters/git.js';
import { findExecutable } from '../adapters/process.js';
import { loadConfig } from '../config/load.js';
import type { BerthConfig } from '../config/schema.js';
import { EnvironmentError, UsageError } from '../errors.js';
import type { AgentRecord } from '../plan/agent.js';
import { repoId } from '../plan/names.js';
import { berthDir, readState } from '../state/store.js';
import { connectEngine } from './engine.js';
import { hostStateDir } from './host-paths.js';

/** What every agent command needs to know about the repository it works on. */
export interface RepoContext {
  root: string;
  commonGitDir: string;
  repoId: string;
  /** berth's folder in the common git directory: state, locks, and one folder per agent. */
  berthDir: string;
  docker: Docker;
}

export interface RepoOptions {
  /** The repository (or any folder inside it); default: the current directory. */
  repo?: string;
}

export async function openRepo(
  options: RepoOptions,
  needs: { engine: boolean } = { engine: true },
): Promise<RepoContext> {
  const [{ root, commonGitDir }, docker] = await Promise.all([
    repoInfo(options.repo ?? process.cwd()),
    needs.engine ? connectEngine() : connect(),
  ]);
  return {
    root,
    commonGitDir,
    repoId: repoId(commonGitDir),
    berthDir: berthDir(commonGitDir),
    docker,
  };
}

export function loadRepoConfig(context: RepoContext, configPath?: string): BerthConfig {
  return loadConfig(context.root, configPath);
}

export function agentDir(context: RepoContext, name: string): string {
  return join(context.berthDir, 'agents', name);
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
 * The Compose that `berth host init` found (cached in berth's host folder: probing Compose v1 costs a
 * Python start), else found now.
 */
export async function knownCompose(): Promise<ComposeCli> {
  const cacheFile = join(hostStateDir(), 'compose.json');
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as ComposeCli;
    if (cached.command?.[0] && findExecutable(cached.command[0])) return cached;
  } catch {}
  const cli = await requireCompose();
  rememberCompose(cli);
  return cli;
}

export function rememberCompose(cli: ComposeCli): void {
  try {
    mkdirSync(hostStateDir(), { recursive: true });
    writeFileSync(join(hostStateDir(), 'compose.json'), `${JSON.stringify(cli)}\n`);
  } catch {
    // Only a cache: a host folder we may not write costs a probe next time.
  }
}

export async function requireCompose(): Promise<ComposeCli> {
  const cli = await detectCompose();
  if (!cli) {
    throw new EnvironmentError(
      'compose-missing',
      'neither `docker compose` nor `docker-compose` is installed',
      {
        hint: 'run `berth host init --install` as root, or install the Compose plugin',
      },
    );
  }
  return cli;
}
