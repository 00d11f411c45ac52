import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { downloadAndUnpack, installCommand, readOsRelease } from '../../adapters/apt.js';
import {
  type ComposeCli,
  type ComposeSurvey,
  chooseCompose,
  composeMissing,
  surveyCompose,
} from '../../adapters/compose.js';
import { debianMirror } from '../../adapters/debootstrap.js';
import type { Engine } from '../../adapters/docker.js';
import {
  connect,
  connectionErrorCode,
  DEFAULT_SOCKET,
  describeEndpoint,
  ENGINE_TIMEOUTS,
  type EngineEndpoint,
  engineEndpoint,
  engineVersion,
} from '../../adapters/docker.js';
import { clearStaleEnginePidFiles, findDockerd, startDockerd } from '../../adapters/dockerd.js';
import { installExecutable, removeTree } from '../../adapters/files.js';
import { isRoot } from '../../adapters/programs.js';
import { EnvironmentError, messageOf } from '../../errors.js';
import { composePluginFile, composeV2Source } from '../../plan/compose-source.js';
import { envFrom } from '../../runtime.js';
import type { HostPaths } from '../../state/paths.js';
import { installRecorded, recordComposePlugin } from './install-record.js';

export const ENGINE_PACKAGES = ['docker.io', 'docker-compose'] as const;

export interface EngineOptions {
  install: boolean;
  paths: HostPaths;
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
  docker: Engine;
}

/**
 * For tests of a fresh host on a machine that is not one: BERTH_TEST_ASSUME_MISSING=engine,compose makes
 * host init treat them as not installed until it has installed them, so the install path really runs.
 */
export function assumedMissing(env: NodeJS.ProcessEnv): Set<string> {
  return new Set((env.BERTH_TEST_ASSUME_MISSING ?? '').split(',').filter(Boolean));
}

/** Finds the Docker engine; if the default socket is silent, installs (when asked) and starts dockerd. */
export async function ensureEngine(options: EngineOptions): Promise<EngineStatus> {
  const env = envFrom(options.env);
  const endpoint = engineEndpoint(env);
  const docker = connect(endpoint);
  const pretend = assumedMissing(env).has('engine');
  const first: Ping = pretend
    ? { ok: false, code: 'ENOENT', message: 'assumed missing' }
    : await ping(docker);
  if (first.ok) return { outcome: 'found', endpoint: describeEndpoint(endpoint), ...first.info, docker };

  const startable = endpoint.kind === 'unix' && endpoint.path === DEFAULT_SOCKET;
  if (!startable || first.code === 'EACCES') throw unreachable(endpoint, first.code, first.message);

  let installed = false;
  if (pretend || !findDockerd()) {
    if (!options.install) {
      throw new EnvironmentError('engine-not-installed', 'no Docker engine is installed on this host', {
        hint: `run \`berth host init --install\` as root, or: ${installCommand(ENGINE_PACKAGES)}`,
      });
    }
    options.progress(`installing ${ENGINE_PACKAGES.join(', ')} with apt-get`);
    await installRecorded(ENGINE_PACKAGES, options.paths, options.paths.log('install'));
    installed = true;
    // A package may start its service itself: ask again before starting a second engine.
    const after = await ping(docker);
    if (after.ok)
      return { outcome: 'installed', endpoint: describeEndpoint(endpoint), ...after.info, docker };
  }
  const dockerd = findDockerd();
  if (!dockerd)
    throw new EnvironmentError('engine-not-installed', 'dockerd is still not on PATH after installing', {
      hint: `install the engine yourself (${installCommand(ENGINE_PACKAGES)}), then run berth host init`,
    });
  if (!isRoot()) {
    throw new EnvironmentError(
      'engine-not-running',
      `the Docker engine is not running (${describeEndpoint(endpoint)})`,
      {
        hint: 'start it as root: `sudo systemctl start docker`, or `sudo berth host init`',
      },
    );
  }

  const logFile = options.paths.dockerdLog;
  for (const file of clearStaleEnginePidFiles())
    options.progress(`removed ${file}: the process it names is gone`);
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
export async function connectEngine(env: NodeJS.ProcessEnv): Promise<Engine> {
  const endpoint = engineEndpoint(env);
  const docker = connect(endpoint);
  const answer = await ping(docker);
  if (!answer.ok) throw unreachable(endpoint, answer.code, answer.message);
  return docker;
}

type Ping =
  | { ok: true; info: { version: string; apiVersion: string } }
  | { ok: false; code?: string; message: string };

/** The first request to the engine: it answers within ENGINE_TIMEOUTS.firstAnswerMs, or it is silent. */
async function ping(docker: Engine): Promise<Ping> {
  try {
    return {
      ok: true,
      info: await engineVersion(docker, AbortSignal.timeout(ENGINE_TIMEOUTS.firstAnswerMs)),
    };
  } catch (error) {
    return { ok: false, code: connectionErrorCode(error), message: messageOf(error) };
  }
}

async function waitForEngine(docker: Engine, timeoutMs: number) {
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
  if (code === 'ABORT_ERR' || code === 'engine-timeout') {
    const silence =
      code === 'ABORT_ERR'
        ? `no answer within ${ENGINE_TIMEOUTS.firstAnswerMs / 1000} s`
        : `no connection within ${ENGINE_TIMEOUTS.connectMs / 1000} s`;
    return new EnvironmentError(
      'engine-unreachable',
      `the Docker engine at ${where} does not answer (${silence})`,
      {
        hint: 'check that the engine runs and answers (docker info), and that DOCKER_HOST points at it',
      },
    );
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
  paths: HostPaths;
  progress: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface ComposeStatus {
  chosen: ComposeCli;
  /** Every Compose found, v2 first: what berth remembers for later commands. */
  found: ComposeCli[];
  /** Installed ones that did not answer: while there are any, what was found is not remembered. */
  failures: ComposeSurvey['failures'];
  installed: boolean;
}

/**
 * Compose v2 if present, else v1. With --install, installs v2 where the OS offers it (Debian 12: from
 * Debian 13's package), and v1 from the OS packages when no Compose can be had otherwise.
 */
export async function ensureCompose(options: ComposeOptions): Promise<ComposeStatus> {
  const env = envFrom(options.env);
  const pretend = assumedMissing(env).has('compose');
  let survey: ComposeSurvey = pretend ? { found: [], failures: [] } : await surveyCompose();
  let installed = false;
  if (options.install && !survey.found.some((cli) => cli.variant === 'v2')) {
    installed = await installComposeV2(options);
    survey = await surveyCompose();
  }
  if (options.install && (survey.found.length === 0 || pretend)) {
    options.progress('installing docker-compose (v1) with apt-get');
    await installRecorded(['docker-compose'], options.paths, options.paths.log('install'));
    installed = true;
    survey = await surveyCompose();
  }
  const chosen = chooseCompose(survey.found, env);
  if (!chosen) throw composeMissing(survey.failures);
  return { chosen, ...survey, installed };
}

/** Installs Compose v2 as a Docker CLI plugin where the OS offers it; false (with a word) where not. */
async function installComposeV2(options: ComposeOptions): Promise<boolean> {
  const source = composeV2Source(readOsRelease());
  const logFile = options.paths.log('install');
  try {
    if (source.kind === 'none') throw new Error(source.reason);
    if (source.kind === 'apt') {
      options.progress(`installing Compose v2 (${source.packages.join(', ')}) with apt-get`);
      await installRecorded(source.packages, options.paths, logFile);
      return true;
    }
    options.progress(`installing Compose v2 from Debian ${source.suite}'s ${source.package} package`);
    const unpacked = join(options.paths.build, 'compose-v2');
    removeTree(unpacked);
    await downloadAndUnpack(debianMirror(), source.suite, source.package, unpacked, logFile);
    installExecutable(join(unpacked, source.plugin), composePluginFile());
    recordComposePlugin(options.paths, composePluginFile());
    removeTree(unpacked);
    return true;
  } catch (error) {
    options.progress(
      `Compose v2 could not be installed (${messageOf(error)}); Compose v1 remains the fallback`,
    );
    return false;
  }
}
