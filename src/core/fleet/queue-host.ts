import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createService,
  findContainer,
  removeContainerById,
  removeVolume,
  startContainerById,
  stopContainerById,
  volumeExists,
} from '../../adapters/docker.js';
import { readText, removeFile, writeFileAtomic } from '../../adapters/files.js';
import { hostAddresses } from '../../adapters/host-net.js';
import { checkQueue, redactQueueUrl } from '../../adapters/queue-redis.js';
import { EnvironmentError, isBerthError, UsageError } from '../../errors.js';
import { advertisedHost, queueContainerName, queueServerCommand, queueUrl } from '../../plan/fleet.js';
import { extraLabels, LABELS } from '../../plan/names.js';
import { type Runtime, runtimeFrom } from '../../runtime.js';
import { hostPaths } from '../../state/paths.js';
import { ensureEngine } from '../host/engine.js';
import { ensureImage } from '../host/images.js';
import { fence as addFence, queueOwner, unfence } from './fence.js';

export interface FleetQueueOptions {
  port?: number;
  /** The address the queue is published on: 127.0.0.1 (this host only), or a private interface's. */
  bind?: string;
  /** Stop the queue, keeping its data. */
  stop?: boolean;
  /** Remove a stopped queue and its data: its container, its volume (every task in it) and its password file. */
  remove?: boolean;
  install?: boolean;
  progress?: (message: string) => void;
  runtime?: Partial<Runtime>;
}

export interface FleetQueueResult {
  outcome: 'started' | 'running' | 'stopped' | 'not-running' | 'removed';
  /** The URL to give workers, with the password (only for the one who runs this command). */
  url: string;
  port: number;
  bind: string;
  container: string;
  volume: string;
}

interface Saved {
  password: string;
  bind: string;
}

const DEFAULT_PORT = 6379;
const LABEL_FLEET = LABELS.fleet;

/**
 * The embedded queue of a first fleet: Redis in a container on this host, with a password and an
 * append-only file in a named volume, published on `bind`. Idempotent; `stop` keeps the data.
 */
export async function fleetQueue(options: FleetQueueOptions = {}): Promise<FleetQueueResult> {
  const runtime = runtimeFrom(options.runtime);
  const port = checkPort(options.port ?? DEFAULT_PORT);
  const paths = hostPaths(runtime.env);
  const progress = options.progress ?? (() => {});
  const saved = readSaved(paths.fleetQueue(port));
  const bind = checkBind(options.bind ?? saved?.bind ?? '127.0.0.1');
  const name = queueContainerName(port);
  const install = options.install ?? false;
  const { docker } = await ensureEngine({ install, paths, progress, env: runtime.env });
  const existing = await findContainer(docker, name);
  const password = saved?.password ?? runtime.randomBytes(24).toString('hex');
  const url = queueUrl(password, advertisedHost(bind, hostAddresses()), port);
  const result = { url, port, bind, container: name, volume: name };

  if (options.remove) {
    if (existing?.running && !options.stop) {
      throw new UsageError('queue-running', `the queue on port ${port} is running: stop it first`, {
        hint: `berth fleet queue --port ${port} --stop --remove (its tasks and their outcomes go with it)`,
      });
    }
    if (existing) await removeContainerById(docker, existing.id);
    await removeVolume(docker, name);
    removeFile(paths.fleetQueue(port));
    await unfence(queueOwner(port), runtime);
    progress(`removed the queue ${name}: its container, its volume and its password file`);
    return { ...result, outcome: 'removed' };
  }
  if (options.stop) {
    if (!existing?.running) {
      await unfence(queueOwner(port), runtime);
      return { ...result, outcome: 'not-running' };
    }
    await stopContainerById(docker, existing.id);
    await unfence(queueOwner(port), runtime);
    progress(`stopped the queue ${name}; its data stays in the volume ${name}`);
    return { ...result, outcome: 'stopped' };
  }
  if (!saved || saved.bind !== bind)
    writeFileAtomic(paths.fleetQueue(port), `${JSON.stringify({ password, bind })}\n`, 0o600);
  const local = queueUrl(password, bind === '0.0.0.0' ? '127.0.0.1' : bind, port);
  if (existing?.running && existing.hostIp === bind) {
    await waitForQueue(local);
    await fence(bind, port, progress);
    return { ...result, outcome: 'running' };
  }
  if (existing && existing.hostIp === bind) {
    await startContainerById(docker, existing.id);
  } else {
    // A new queue, or one published on another address: the container is made again, the volume kept.
    if (existing) await removeContainerById(docker, existing.id);
    const image = await ensureImage({ docker, paths, install, progress, env: runtime.env }, 'redis');
    const labels = { [LABEL_FLEET]: 'queue', ...extraLabels(runtime.env.BERTH_LABELS) };
    const hadData = await volumeExists(docker, name);
    try {
      await createService(docker, {
        name,
        image: image.image,
        command: queueServerCommand(password),
        labels,
        port: { container: 6379, hostIp: bind, host: port },
        volume: { name, target: '/data' },
      });
    } catch (error) {
      const made = await findContainer(docker, name);
      if (made) await removeContainerById(docker, made.id);
      if (!hadData) await removeVolume(docker, name);
      throw startFailure(error, port, bind);
    }
  }
  await waitForQueue(local);
  await fence(bind, port, progress);
  progress(`the queue runs at ${redactQueueUrl(url)} (data in the volume ${name})`);
  return { ...result, outcome: 'started' };
}

/** Containers on this host (agents, if it runs any) may not reach the queue through its published port. */
async function fence(bind: string, port: number, progress: (message: string) => void): Promise<void> {
  const fenced = await addFence({ ip: bind === '0.0.0.0' ? '127.0.0.1' : bind, port }, queueOwner(port));
  if (!fenced.ok) progress(`warning: containers on this host may reach the queue (${fenced.reason})`);
}

function readSaved(file: string): Saved | undefined {
  try {
    const saved = JSON.parse(readText(file) ?? 'null') as Partial<Saved> | null;
    return saved?.password && saved.bind ? { password: saved.password, bind: saved.bind } : undefined;
  } catch {
    return undefined;
  }
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError('bad-port', `--port must be a port number (1-65535), not ${port}`, {
      hint: 'e.g. --port 6380',
    });
  }
  return port;
}

function checkBind(bind: string): string {
  if (isIP(bind) === 0) {
    throw new UsageError('bad-bind', `--bind must be an IP address of this host, not "${bind}"`, {
      hint: 'use 127.0.0.1 (this host only) or the address of a private interface, e.g. --bind 10.0.0.5',
    });
  }
  return bind;
}

/** Redis takes a moment to load its append-only file: waits until it answers with the password. */
async function waitForQueue(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await checkQueue(url);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

function startFailure(error: unknown, port: number, bind: string): Error {
  if (isBerthError(error)) return error;
  const message = (error as Error).message ?? String(error);
  if (/address already in use|port is already allocated/i.test(message)) {
    return new UsageError('port-taken', `port ${port} on ${bind} is taken by another program`, {
      hint: 'choose another port with --port (workers then use the URL printed for it)',
    });
  }
  if (/cannot assign requested address/i.test(message)) {
    return new UsageError('bad-bind', `${bind} is not an address of this host`, {
      hint: 'use 127.0.0.1 or the address of one of this host’s interfaces (ip -4 addr)',
    });
  }
  return new EnvironmentError(
    'queue-start-failed',
    `the queue's container did not start: ${message.split('\n')[0]}`,
    {
      hint: 'see the engine’s log (berth host init says where), or choose another --port',
    },
  );
}
