import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { aptInstall, installCommand } from '../adapters/apt.js';
import { type ComposeCli, detectCompose } from '../adapters/compose.js';
import {
  connect,
  connectionErrorCode,
  DEFAULT_SOCKET,
  describeEndpoint,
  type EngineEndpoint,
  engineEndpoint,
  engineVersion,
} from '../adapters/docker.js';
import { findDockerd, startDockerd } from '../adapters/dockerd.js';
import { isRoot } from '../adapters/process.js';
import { EnvironmentError, messageOf } from '../errors.js';

export const ENGINE_PACKAGES = ['docker.io', 'docker-compose'] as const;

export interface EngineOptions {
  install: boolean;
  stateDir: string;
  /** How long to wait for a started dockerd to answer. */
  startTimeoutMs?: number;
  progress: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface EngineStatus {
  outcome: 'found' | 'started' | 'installed';
  endpoint: string;
  version: string;
  apiVersion: string;
  docker: Docker;
}

/** Finds the Docker engine; if the default socket is silent, installs (when asked) and starts dockerd. */
export async function ensureEngine(options: EngineOptions): Promise<EngineStatus> {
  const endpoint = engineEndpoint(options.env);
  const docker = connect(endpoint);
  const first = await ping(docker);
  if (first.ok) return { outcome: 'found', endpoint: describeEndpoint(endpoint), ...first.info, docker };

  const startable = endpoint.kind === 'unix' && endpoint.path === DEFAULT_SOCKET;
  if (!startable || first.code === 'EACCES') throw unreachable(endpoint, first.code, first.message);

  let installed = false;
  if (!findDockerd()) {
    if (!options.install) {
      throw new EnvironmentError('engine-not-installed', 'no Docker engine is installed on this host', {
        hint: `run \`berth host init --install\` as root, or: ${installCommand(ENGINE_PACKAGES)}`,
      });
    }
    options.progress(`installing ${ENGINE_PACKAGES.join(', ')} with apt-get`);
    await aptInstall(ENGINE_PACKAGES, join(options.stateDir, 'logs', 'install.log'));
    installed = true;
  }
  const dockerd = findDockerd();
  if (!dockerd)
    throw new EnvironmentError('engine-not-installed', 'dockerd is still not on PATH after installing');
  if (!isRoot()) {
    throw new EnvironmentError(
      'engine-not-running',
      `the Docker engine is not running (${describeEndpoint(endpoint)})`,
      {
        hint: 'start it as root: `sudo systemctl start docker`, or `sudo berth host init`',
      },
    );
  }

  const logFile = join(options.stateDir, 'dockerd.log');
  options.progress(`starting dockerd (log: ${logFile})`);
  startDockerd(dockerd, logFile);
  const info = await waitForEngine(docker, options.startTimeoutMs ?? 30_000);
  if (!info) {
    throw new EnvironmentError(
      'engine-start-timeout',
      'dockerd was started but its socket did not answer in time',
      {
        hint: `read its log: ${logFile}`,
        logFile,
      },
    );
  }
  return {
    outcome: installed ? 'installed' : 'started',
    endpoint: describeEndpoint(endpoint),
    ...info,
    docker,
  };
}

/** A client for the engine, checked to answer: a clear error now beats a socket error mid-command. */
export async function connectEngine(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const endpoint = engineEndpoint(env);
  const docker = connect(endpoint);
  const answer = await ping(docker);
  if (!answer.ok) throw unreachable(endpoint, answer.code, answer.message);
  return docker;
}

type Ping =
  | { ok: true; info: { version: string; apiVersion: string } }
  | { ok: false; code?: string; message: string };

async function ping(docker: Docker): Promise<Ping> {
  try {
    return { ok: true, info: await engineVersion(docker) };
  } catch (error) {
    return { ok: false, code: connectionErrorCode(error), message: messageOf(error) };
  }
}

async function waitForEngine(docker: Docker, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await ping(docker);
    if (result.ok) return result.info;
    await sleep(200);
  }
  return undefined;
}

export function unreachable(
  endpoint: EngineEndpoint,
  code: string | undefined,
  message: string,
): EnvironmentError {
  const where = describeEndpoint(endpoint);
  if (code === 'EACCES') {
    return new EnvironmentError('engine-not-permitted', `permission denied on the Docker socket ${where}`, {
      hint: 'add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root',
    });
  }
  if (code === 'ENOENT') {
    return new EnvironmentError('engine-unreachable', `no Docker engine socket at ${where}`, {
      hint: 'start the engine there, or unset DOCKER_HOST to use the default socket',
    });
  }
  return new EnvironmentError(
    'engine-unreachable',
    `the Docker engine at ${where} does not answer (${code ?? message})`,
    {
      hint: 'check that the engine runs and DOCKER_HOST points at it',
    },
  );
}

export interface ComposeOptions {
  install: boolean;
  stateDir: string;
  progress: (message: string) => void;
}

/** Compose v2 if present, else v1; with --install, installs v1 from the OS packages when neither is there. */
export async function ensureCompose(options: ComposeOptions): Promise<ComposeCli & { installed: boolean }> {
  const found = await detectCompose();
  if (found) return { ...found, installed: false };
  if (!options.install) {
    throw new EnvironmentError(
      'compose-missing',
      'neither `docker compose` nor `docker-compose` is installed',
      {
        hint: `install the Compose plugin, or run \`berth host init --install\` as root (${installCommand(['docker-compose'])})`,
      },
    );
  }
  options.progress('installing docker-compose with apt-get');
  await aptInstall(['docker-compose'], join(options.stateDir, 'logs', 'install.log'));
  const installed = await detectCompose();
  if (!installed)
    throw new EnvironmentError('compose-missing', 'docker-compose is still missing after installing it');
  return { ...installed, installed: true };
}
