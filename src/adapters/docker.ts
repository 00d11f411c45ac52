import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import Docker from 'dockerode';
import { BerthError, EnvironmentError, messageOf } from '../errors.js';
import { type EngineStack, startWaves } from '../plan/engine-stack.js';
import { SERVICE_LABEL } from '../plan/names.js';
import { EXEC_MARKER } from './docker-cli.js';
import { appendFile } from './files.js';
import { isRunning, namespacePid, processAt, processTree, signalAll } from './processes.js';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** A client of the engine: the one type the rest of berth knows of the Docker client library. */
export type Engine = Docker;

/** Where the Docker engine is expected: DOCKER_HOST, else the default socket. */
export type EngineEndpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; url: string };

export function engineEndpoint(env: NodeJS.ProcessEnv): EngineEndpoint {
  const host = env.DOCKER_HOST;
  if (!host) return { kind: 'unix', path: DEFAULT_SOCKET };
  if (host.startsWith('unix://'))
    return { kind: 'unix', path: host.slice('unix://'.length) || DEFAULT_SOCKET };
  if (!/^(tcp|https?):\/\//.test(host)) {
    throw new EnvironmentError(
      'engine-endpoint',
      `DOCKER_HOST=${host} is not an engine address berth can use`,
      {
        hint: 'use unix:///path/to/docker.sock or tcp://host:port; for an engine over ssh, forward its socket (ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock HOST) and use unix:///tmp/docker.sock',
      },
    );
  }
  return { kind: 'tcp', url: host };
}

export function describeEndpoint(endpoint: EngineEndpoint): string {
  return endpoint.kind === 'unix' ? `unix://${endpoint.path}` : endpoint.url;
}

/**
 * How long berth waits on the Docker engine: for a connection; for the answer to a command's first
 * request (the ping that tells a missing engine from a silent one); and for a reply to any other request
 * (that long without a byte from the engine fails it). Builds, pulls, imports, commits, waits and
 * followed logs and events have no reply limit: they are silent as long as their work takes.
 */
export const ENGINE_TIMEOUTS = { connectMs: 10_000, firstAnswerMs: 10_000, replyMs: 60_000 };
export type EngineTimeouts = typeof ENGINE_TIMEOUTS;

/** Each client's twin without a reply limit, for the long operations. */
const longClients = new WeakMap<Docker, Docker>();

export function connect(endpoint: EngineEndpoint, timeouts: EngineTimeouts = ENGINE_TIMEOUTS): Docker {
  const docker = client(endpoint, timeouts.connectMs, timeouts.replyMs);
  longClients.set(docker, client(endpoint, timeouts.connectMs, undefined));
  return docker;
}

function client(endpoint: EngineEndpoint, connectMs: number, replyMs: number | undefined): Docker {
  // For tcp, dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself.
  const docker = endpoint.kind === 'unix' ? new Docker({ socketPath: endpoint.path }) : new Docker();
  const modem = docker.modem as { protocol?: string; agent?: Agent };
  const agent = modem.protocol === 'https' ? new HttpsAgent() : new Agent();
  modem.agent = shortInInspect(
    withTimeouts(agent, describeEndpoint(endpoint), connectMs, replyMs),
    describeEndpoint(endpoint),
  );
  return docker;
}

/**
 * docker-modem writes each request's options through `util.inspect(…, { showHidden: true, depth: null })`
 * for its debug log whether or not the log is on; an agent inspected whole (its sockets, their parsers)
 * cost about 10 ms of CPU per request. The agent shows itself as its name.
 */
function shortInInspect(agent: Agent, where: string): Agent {
  Object.defineProperty(agent, inspect.custom, { value: () => `[berth's agent for ${where}]` });
  return agent;
}

/**
 * Every connection of the client gets a connect timer, and once connected an idle timer: past either,
 * the request fails with one line that names the engine and the limit (dockerode's own `timeout` only
 * drops the socket, which reads as "socket hang up").
 */
function withTimeouts(agent: Agent, where: string, connectMs: number, replyMs: number | undefined): Agent {
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback) as Socket;
    const silent = (limit: string, ms: number) =>
      new EnvironmentError('engine-timeout', `the Docker engine at ${where} ${limit} within ${ms / 1000} s`, {
        hint: 'check that the engine runs and answers (docker info), and that DOCKER_HOST points at it',
      });
    const connecting = setTimeout(
      () => socket.destroy(silent('did not accept a connection', connectMs)),
      connectMs,
    );
    socket.once('connect', () => {
      clearTimeout(connecting);
      if (replyMs) socket.setTimeout(replyMs, () => socket.destroy(silent('did not reply', replyMs)));
    });
    socket.once('close', () => clearTimeout(connecting));
    return socket;
  };
  return agent;
}

/** The same engine without a reply limit: for work that may be silent as long as it takes. */
export function longRunning(docker: Docker): Docker {
  return longClients.get(docker) ?? docker;
}

export interface EngineInfo {
  version: string;
  apiVersion: string;
}

export async function engineVersion(docker: Docker, signal?: AbortSignal): Promise<EngineInfo> {
  // dockerode takes an abort signal here too; its types do not say so.
  const version = (await docker.version({ abortSignal: signal } as never)) as unknown as {
    Version: string;
    ApiVersion: string;
  };
  return { version: version.Version, apiVersion: version.ApiVersion };
}

/** The error code of a failed connection (ENOENT, ECONNREFUSED, EACCES, …), if it is one. */
export function connectionErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export interface ImageSummary {
  id: string;
  labels: Record<string, string>;
}

export async function inspectImage(docker: Docker, ref: string): Promise<ImageSummary | undefined> {
  try {
    const info = await docker.getImage(ref).inspect();
    return { id: info.Id, labels: info.Config?.Labels ?? {} };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

type ProgressEvent = { stream?: string; status?: string; error?: string; errorDetail?: { message?: string } };

/** Waits for a progress stream of the Engine API to end, writing it to a log; rejects on an error event. */
function followProgress(docker: Docker, stream: Readable, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (error: Error | null) => {
        if (error) reject(error);
        else if (failure) reject(new Error(failure));
        else resolve();
      },
      (event: ProgressEvent) => {
        const line = event.stream ?? (event.status ? `${event.status}\n` : '');
        if (line) appendFile(logFile, line);
        const message = event.errorDetail?.message ?? event.error;
        if (message) {
          failure = message.trim();
          appendFile(logFile, `ERROR: ${failure}\n`);
        }
      },
    );
  });
}

export async function pullImage(docker: Docker, ref: string, logFile: string): Promise<void> {
  const stream = (await longRunning(docker).pull(ref)) as Readable;
  await followProgress(docker, stream, logFile);
}

export interface BuildRequest {
  contextDir: string;
  files: string[];
  tag: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  logFile: string;
  /** The Dockerfile's path in the context; default: Dockerfile. */
  dockerfile?: string;
}

export async function buildImage(docker: Docker, request: BuildRequest): Promise<void> {
  const stream = await longRunning(docker).buildImage(
    { context: request.contextDir, src: request.files },
    {
      t: request.tag,
      buildargs: request.buildArgs,
      labels: request.labels,
      rm: true,
      forcerm: true,
      ...(request.dockerfile && { dockerfile: request.dockerfile }),
    },
  );
  await followProgress(docker, stream as Readable, request.logFile);
}

/** Imports a root file system from a tar stream as an image. */
export async function importImage(
  docker: Docker,
  tar: Readable,
  tag: string,
  logFile: string,
): Promise<void> {
  const [repo, version] = splitTag(tag);
  const stream = (await longRunning(docker).importImage(tar, { repo, tag: version })) as unknown as Readable;
  await followProgress(docker, stream, logFile);
}

/** Tags of images whose repository is `repository` (all its tags), and untagged images with `label`. */
export async function listImages(docker: Docker, query: { repository?: string; danglingWithLabel?: string }) {
  if (query.repository) {
    const images = await docker.listImages({ filters: { reference: [query.repository] } });
    return images.flatMap((image) => image.RepoTags ?? []);
  }
  const images = await docker.listImages({
    filters: { dangling: ['true'], label: [query.danglingWithLabel ?? ''] },
  });
  return images.map((image) => image.Id);
}

/** Removes images by tag or id; one a container still uses stays (the engine refuses), silently. */
export async function removeImages(docker: Docker, refs: string[]): Promise<void> {
  for (const ref of refs) {
    await docker
      .getImage(ref)
      .remove()
      .catch(() => {});
  }
}

function splitTag(ref: string): [string, string] {
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
}

export interface LabelledContainer {
  id: string;
  service: string | undefined;
  state: string;
  /** The exit code of a container that has exited. */
  exitCode?: number;
  labels: Record<string, string>;
  /** Its addresses on its networks. */
  addresses: string[];
}

function labelFilter(labels: Record<string, string>): { label: string[] } {
  return { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) };
}

export async function listContainers(
  docker: Docker,
  labels: Record<string, string>,
): Promise<LabelledContainer[]> {
  const containers = await docker.listContainers({ all: true, filters: labelFilter(labels) });
  return containers.map((c) => {
    const exited = /^Exited \((-?\d+)\)/.exec(c.Status ?? '');
    return {
      id: c.Id,
      service: c.Labels[SERVICE_LABEL],
      state: c.State,
      ...(exited && { exitCode: Number(exited[1]) }),
      labels: c.Labels,
      addresses: Object.values(c.NetworkSettings?.Networks ?? {})
        .map((network) => network.IPAddress)
        .filter(Boolean),
    };
  });
}

/** A container's run as the engine reports it: its state, restarts and start (ms, the engine's clock). */
export interface ContainerRunFacts {
  id: string;
  service: string | undefined;
  status: string;
  exitCode: number;
  restarts: number;
  startedAt: number;
}

/** The runs of the containers with these labels (one inspect each: the list does not say restarts). */
export async function containerRuns(
  docker: Docker,
  labels: Record<string, string>,
): Promise<ContainerRunFacts[]> {
  const listed = await docker.listContainers({ all: true, filters: labelFilter(labels) });
  const runs = await Promise.all(
    listed.map(async (c) => {
      const info = await docker
        .getContainer(c.Id)
        .inspect()
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode === 404) return undefined;
          throw error;
        });
      if (!info) return undefined;
      return {
        id: c.Id,
        service: c.Labels[SERVICE_LABEL],
        status: info.State.Restarting ? 'restarting' : info.State.Status,
        exitCode: info.State.ExitCode,
        restarts: info.RestartCount,
        startedAt: Date.parse(info.State.StartedAt) || 0,
      };
    }),
  );
  return runs.filter((run) => run !== undefined);
}

/** The last lines a container wrote (stdout and stderr), for an error that says why it failed. */
export async function containerLogTail(docker: Docker, id: string, lines: number): Promise<string[]> {
  const raw = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines })) as Buffer;
  return demultiplex(raw).split('\n').filter(Boolean).slice(-lines);
}

/**
 * Calls `onText` with a container's last `lines` lines, then with what it writes from then on, until
 * the returned stop (or the container's end).
 */
export async function followContainerLogs(
  docker: Docker,
  id: string,
  lines: number,
  onText: (text: string) => void,
): Promise<() => void> {
  const { Config } = await docker.getContainer(id).inspect();
  const stream = (await longRunning(docker).getContainer(id).logs({
    stdout: true,
    stderr: true,
    follow: true,
    tail: lines,
  })) as unknown as Readable & { destroy: () => void };
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => onText(chunk.toString('utf8')));
  if (Config.Tty) stream.pipe(sink);
  else docker.modem.demuxStream(stream, sink, sink);
  stream.on('error', () => {});
  return () => {
    stream.destroy();
    sink.destroy();
  };
}

/** Output of a container without a TTY comes in frames: 8 header bytes (stream, size), then the bytes. */
function demultiplex(raw: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length && raw[offset + 1] === 0 && raw[offset + 2] === 0) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return offset === 0 ? raw.toString('utf8') : Buffer.concat(parts).toString('utf8');
}

/** Stops the running containers carrying all of `labels`, giving each `seconds` to exit before a kill. */
export async function stopLabelled(
  docker: Docker,
  labels: Record<string, string>,
  seconds = 5,
): Promise<void> {
  const containers = await docker.listContainers({ filters: labelFilter(labels) });
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .stop({ t: seconds })
        .catch((error: { statusCode?: number }) => {
          // 304: already stopped; 404: already gone.
          if (error.statusCode !== 304 && error.statusCode !== 404) throw error;
        }),
    ),
  );
}

/**
 * Freezes the running containers with these labels (the cgroup freezer: nothing in them runs or writes
 * until they are removed). False when the engine would not (a runtime without pause): stop them then.
 */
export async function pauseLabelled(docker: Docker, labels: Record<string, string>): Promise<boolean> {
  const containers = await docker.listContainers({ filters: labelFilter(labels) });
  try {
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).pause()));
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a command berth started in a container (found by its marker argument): SIGTERM to it and
 * every process it started, SIGKILL to what is left after `graceMs`. Signals from the host where this
 * process may (root, or the same user), else from inside the container, as root.
 */
export async function stopExec(
  docker: Docker,
  containerId: string,
  marker: string,
  graceMs = 10_000,
): Promise<boolean> {
  const pid = await execPid(docker, containerId, marker);
  if (pid === undefined) return false;
  // Every process of the command as first seen, by pid and start time: one that outlives the command's
  // shell (reparented to the container's init, deaf to SIGTERM) is still its to stop.
  let members = processTree(pid).flatMap((p) => processAt(p) ?? []);
  const living = () => {
    members = processTree(members.filter(isRunning).map((m) => m.pid)).flatMap((p) => processAt(p) ?? []);
    return members.map((m) => m.pid);
  };
  const signalTree = async (signal: NodeJS.Signals) => {
    const tree = living();
    const refused = signalAll(tree, signal);
    const inside = refused.map(namespacePid).filter((p): p is number => p !== undefined);
    if (inside.length > 0)
      await execAsRoot(docker, containerId, [
        'kill',
        `-${signal.replace(/^SIG/, '')}`,
        ...inside.map(String),
      ]);
  };
  await signalTree('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && living().length > 0) await sleep(100);
  if (living().length > 0) await signalTree('SIGKILL');
  return true;
}

/** The host pid of a running exec whose command is `env BERTH_EXEC_ID=<marker> …`. */
async function execPid(docker: Docker, containerId: string, marker: string): Promise<number | undefined> {
  const info = await docker.getContainer(containerId).inspect();
  for (const id of info.ExecIDs ?? []) {
    const exec = await docker
      .getExec(id)
      .inspect()
      .catch(() => undefined);
    const config = exec?.ProcessConfig as { entrypoint?: string; arguments?: string[] } | undefined;
    if (
      exec?.Running &&
      config?.entrypoint === 'env' &&
      config.arguments?.[0] === `${EXEC_MARKER}=${marker}`
    ) {
      return exec.Pid;
    }
  }
  return undefined;
}

async function execAsRoot(docker: Docker, containerId: string, command: string[]): Promise<void> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: command, User: '0' });
  await exec.start({ Detach: true });
}

/** A container found by its name, or undefined. */
export async function findContainer(docker: Docker, name: string) {
  const info = await docker
    .getContainer(name)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined;
      throw error;
    });
  if (!info) return undefined;
  const binding = Object.values(info.HostConfig.PortBindings ?? {})[0] as
    | Array<{ HostIp?: string; HostPort?: string }>
    | undefined;
  return {
    id: info.Id,
    running: info.State.Running,
    labels: info.Config.Labels ?? {},
    hostIp: binding?.[0]?.HostIp ?? '',
    hostPort: Number(binding?.[0]?.HostPort ?? 0),
  };
}

/** A long-running service container: one image, one port published, one named volume. */
export interface ServiceSpec {
  name: string;
  image: string;
  command: string[];
  labels: Record<string, string>;
  port: { container: number; hostIp: string; host: number };
  volume: { name: string; target: string };
}

export async function createService(docker: Docker, spec: ServiceSpec): Promise<string> {
  await docker.createVolume({ Name: spec.volume.name, Labels: spec.labels });
  const key = `${spec.port.container}/tcp`;
  const container = await docker.createContainer({
    name: spec.name,
    Image: spec.image,
    Cmd: spec.command,
    Labels: spec.labels,
    ExposedPorts: { [key]: {} },
    HostConfig: {
      PortBindings: { [key]: [{ HostIp: spec.port.hostIp, HostPort: String(spec.port.host) }] },
      Mounts: [{ Type: 'volume', Source: spec.volume.name, Target: spec.volume.target }],
      RestartPolicy: { Name: 'unless-stopped' },
      SecurityOpt: ['no-new-privileges:true'],
    },
  });
  await container.start();
  return container.id;
}

export async function startContainerById(docker: Docker, id: string): Promise<void> {
  await docker.getContainer(id).start();
}

export async function stopContainerById(docker: Docker, id: string): Promise<void> {
  await docker
    .getContainer(id)
    .stop({ t: 10 })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 304 && error.statusCode !== 404) throw error;
    });
}

/** Removes a container and its anonymous volumes (named volumes stay). */
export async function removeContainerById(docker: Docker, id: string): Promise<void> {
  const container = docker.getContainer(id);
  try {
    await container.remove({ force: true, v: true });
  } catch (error) {
    const { statusCode, message } = error as { statusCode?: number; message?: string };
    if (statusCode === 404) return;
    // The engine is already removing it (an auto-remove container that stopped, or another remover):
    // it is going; wait until it is gone, so its network and volumes can follow.
    if (statusCode !== 409 || !/already in progress/i.test(message ?? '')) throw error;
    for (let waited = 0; waited < REMOVAL_WAIT_MS; waited += 250) {
      const gone = await container.inspect().then(
        () => false,
        (e: { statusCode?: number }) => e.statusCode === 404,
      );
      if (gone) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw error;
  }
}

/** How long a removal the engine already has under way may take before berth reports it. */
const REMOVAL_WAIT_MS = 30_000;

/** Whether the engine answers now (a short ping). */
export async function engineAnswers(docker: Docker): Promise<boolean> {
  try {
    await docker.ping({ abortSignal: AbortSignal.timeout(3000) } as never);
    return true;
  } catch {
    return false;
  }
}

/** True when an error says the engine itself is gone (its socket refused or missing), not a request failed. */
export function engineGone(error: unknown): boolean {
  const code = connectionErrorCode(error);
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ECONNRESET';
}

/** Containers, networks and volumes carrying all of `labels`, each with its own labels. */
export interface LabelledResources {
  containers: Array<{ id: string; labels: Record<string, string> }>;
  networks: Array<{ id: string; labels: Record<string, string> }>;
  volumes: Array<{ id: string; labels: Record<string, string> }>;
}

export async function listLabelled(
  docker: Docker,
  labels: Record<string, string>,
): Promise<LabelledResources> {
  const filters = labelFilter(labels);
  const [containers, networks, { Volumes }] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listNetworks({ filters }),
    docker.listVolumes({ filters }),
  ]);
  return {
    containers: containers.map((c) => ({ id: c.Id, labels: c.Labels ?? {} })),
    networks: networks.map((n) => ({ id: n.Id, labels: n.Labels ?? {} })),
    volumes: (Volumes ?? []).map((v) => ({ id: v.Name, labels: v.Labels ?? {} })),
  };
}

/** What a removal left, and the engine's words why (a network something joined meanwhile). */
export interface NotRemoved {
  kind: 'container' | 'network' | 'volume';
  id: string;
  labels: Record<string, string>;
  reason: string;
}

/**
 * Removes the given containers, then networks and volumes (what still uses them goes first). What the
 * engine refuses to remove (in use, say) is returned, not thrown: the caller decides what it means.
 */
export async function removeResources(docker: Docker, resources: LabelledResources): Promise<NotRemoved[]> {
  const kept: NotRemoved[] = [];
  const attempt = async (
    kind: NotRemoved['kind'],
    resource: { id: string; labels: Record<string, string> },
    remove: () => Promise<unknown>,
  ) => {
    try {
      await ignoreGone(remove());
    } catch (error) {
      if (!httpStatus(error)) throw error; // the engine itself did not answer
      kept.push({ kind, ...resource, reason: engineWords(error) });
    }
  };
  await Promise.all(
    resources.containers.map((c) => attempt('container', c, () => removeContainerById(docker, c.id))),
  );
  await Promise.all(
    resources.networks.map((n) => attempt('network', n, () => docker.getNetwork(n.id).remove())),
  );
  await Promise.all(
    resources.volumes.map((v) => attempt('volume', v, () => docker.getVolume(v.id).remove({ force: true }))),
  );
  return kept;
}

/**
 * Removes every container, network and volume carrying all of `labels`; returns how many of each. A
 * removal the engine refuses is one line that names what and why.
 */
export async function removeLabelled(docker: Docker, labels: Record<string, string>) {
  const filters = labelFilter(labels);
  const containers = await removeContainers(docker, labels);
  // Networks and volumes need only the containers gone, not each other.
  const [networks, volumes] = await Promise.all([
    docker.listNetworks({ filters }).then(async (networks) => {
      await Promise.all(
        networks.map((n) => ignoreGone(docker.getNetwork(n.Id).remove()).catch(refused('network', n.Name))),
      );
      return networks.length;
    }),
    docker.listVolumes({ filters }).then(async ({ Volumes }) => {
      await Promise.all(
        (Volumes ?? []).map((v) =>
          ignoreGone(docker.getVolume(v.Name).remove({ force: true })).catch(refused('volume', v.Name)),
        ),
      );
      return (Volumes ?? []).length;
    }),
  ]);
  return { containers, networks, volumes };
}

/**
 * Removes the containers with these labels (and their anonymous volumes), all at once, but those `which`
 * leaves out (it sees each one's labels). Returns how many it removed.
 */
export async function removeContainers(
  docker: Docker,
  labels: Record<string, string>,
  which: (container: { labels: Record<string, string> }) => boolean = () => true,
): Promise<number> {
  const listed = await docker.listContainers({ all: true, filters: labelFilter(labels) });
  const containers = listed.filter((c) => which({ labels: c.Labels }));
  await Promise.all(
    containers.map((c) =>
      ignoreGone(removeContainerById(docker, c.Id)).catch(
        refused('container', c.Names?.[0]?.replace(/^\//, '') ?? c.Id),
      ),
    ),
  );
  return containers.length;
}

/** An engine's refusal to remove something, said as one line; anything else as it came. */
const refused = (kind: string, name: string) => (error: unknown) => {
  throw httpStatus(error) ? refusedRemoval(kind, name, error) : error;
};

function httpStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The engine's own message, without dockerode's "(HTTP code N) reason - " prefix. */
export function engineWords(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | undefined)?.json;
  const said = typeof json?.message === 'string' ? json.message : messageOf(error);
  return said.replace(/^\(HTTP code \d+\)[^-]*- /, '').trim();
}

function refusedRemoval(kind: string, name: string, error: unknown): BerthError {
  const inUse = /active endpoints|in use|is being used/i.test(engineWords(error));
  return new BerthError(
    'engine-refused',
    `the Docker engine would not remove ${kind} ${name}: ${engineWords(error)}`,
    {
      hint: inUse
        ? `something still uses it (docker ${kind} inspect ${name}); run the command again once that is gone, or berth gc`
        : 'run the command again; berth gc removes what is left',
      cause: error,
    },
  );
}

/** A removal that finds the object gone, or being removed by another request right now, is done. */
async function ignoreGone(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    const status = httpStatus(error);
    if (status === 404) return;
    if (status === 409 && /already in progress/i.test(engineWords(error))) return;
    throw error;
  }
}

async function ignoreMissing(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

/** Subnets of every network on the engine, so a new one overlaps none. */
export async function subnetsInUse(docker: Docker): Promise<string[]> {
  const networks = await docker.listNetworks();
  return networks.flatMap((n) =>
    (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => Boolean(s)),
  );
}

/** Host ports published by any container, running or not (a stopped one takes its port back on start). */
export async function publishedPorts(docker: Docker): Promise<Set<number>> {
  const containers = await docker.listContainers({ all: true });
  const ports = containers.flatMap((c) => c.Ports.map((p) => p.PublicPort).filter(Boolean));
  const bound = await Promise.all(
    containers
      .filter((c) => c.State !== 'running')
      .map(async (c) => {
        const info = await docker
          .getContainer(c.Id)
          .inspect()
          .catch(() => undefined);
        return Object.values(info?.HostConfig.PortBindings ?? {}).flatMap((bindings) =>
          ((bindings as Array<{ HostPort?: string }> | null) ?? [])
            .map((b) => Number(b.HostPort))
            .filter(Boolean),
        );
      }),
  );
  return new Set([...ports, ...bound.flat()]);
}

/** Creates the networks and volumes, then creates and starts every container, each group in parallel. */
export async function applyStack(docker: Docker, stack: EngineStack): Promise<void> {
  await Promise.all([
    ...stack.networks.map((network) =>
      docker.createNetwork({
        Name: network.name,
        Driver: 'bridge',
        Labels: network.labels,
        Internal: network.internal,
        ...(network.options && { Options: network.options }),
        CheckDuplicate: true,
        IPAM: network.subnet ? { Driver: 'default', Config: [{ Subnet: network.subnet }] } : undefined,
      }),
    ),
    ...stack.volumes.map((volume) => docker.createVolume({ Name: volume.name, Labels: volume.labels })),
  ]);
  // Each container starts as soon as it is made and what it comes after has started: Postgres does not
  // wait for the agent's container, whose many mounts take the engine longest to make. Without an order
  // (a cycle), the rest start together, as made.
  const ordered = new Map(startWaves(stack.containers).flatMap((wave, index) => wave.map((s) => [s, index])));
  const started = new Map<string, Promise<unknown>>();
  for (const container of [...stack.containers].sort(
    (a, b) => (ordered.get(a.service) ?? 0) - (ordered.get(b.service) ?? 0),
  )) {
    const wave = ordered.get(container.service) ?? 0;
    const before = (container.after ?? [])
      .filter((service) => (ordered.get(service) ?? wave) < wave)
      .map((service) => started.get(service));
    started.set(
      container.service,
      (async () => {
        // Made first, whatever happens to what it waits for: a rollback then finds it.
        const made = await createOnNetworks(docker, container).catch(said(container.service));
        await Promise.all(before);
        return made.start().catch(said(container.service));
      })(),
    );
  }
  // Everything asked of the engine has ended before a failure is reported: a rollback then finds it all.
  const outcomes = await Promise.allSettled(started.values());
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The engine's words for a container it would not make or start, with the service they are about. */
function said(service: string) {
  return (error: unknown): never => {
    // The engine's error, reworded only: what is made of it (a conflict retried, a kept log) stays the same.
    throw new Error(`the ${service} container: ${messageOf(error)}`, { cause: error });
  };
}

type Endpoints = Record<string, { Aliases?: string[] }>;

/** API 1.41 takes one network at create: the container joins the others before it starts. */
export async function createOnNetworks(docker: Docker, container: EngineStack['containers'][number]) {
  const endpoints = ((container.options.NetworkingConfig as { EndpointsConfig?: Endpoints } | undefined)
    ?.EndpointsConfig ?? {}) as Endpoints;
  const [first, ...rest] = Object.entries(endpoints);
  const created = await docker.createContainer({
    name: container.name,
    ...container.options,
    NetworkingConfig: { EndpointsConfig: first ? { [first[0]]: first[1] } : {} },
  });
  for (const [network, endpoint] of rest) {
    await docker.getNetwork(network).connect({ Container: created.id, EndpointConfig: endpoint });
  }
  return created;
}

export async function volumeExists(docker: Docker, name: string): Promise<boolean> {
  return docker
    .getVolume(name)
    .inspect()
    .then(
      () => true,
      (error: { statusCode?: number }) => {
        if (error.statusCode === 404) return false;
        throw error;
      },
    );
}

export async function removeVolume(docker: Docker, name: string): Promise<void> {
  await ignoreMissing(docker.getVolume(name).remove());
}

/** Calls `onEvent` for each engine event on resources carrying all of `labels`; returns how to stop. */
export async function watchEngineEvents(
  docker: Docker,
  labels: Record<string, string>,
  onEvent: () => void,
): Promise<() => void> {
  const stream = (await longRunning(docker).getEvents({
    filters: labelFilter(labels),
  })) as NodeJS.ReadableStream & {
    destroy: () => void;
  };
  stream.on('data', () => onEvent());
  stream.on('error', () => {});
  return () => stream.destroy();
}

export interface ContainerExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a command in a container through the Engine API and waits for it: its output kept, `input`
 * written to its stdin (so a value given this way is in no argument, no environment and nothing the
 * engine keeps about the exec).
 */
export async function execInContainer(
  docker: Docker,
  containerId: string,
  command: string[],
  options: { user?: string; input?: string | Buffer } = {},
): Promise<ContainerExecResult> {
  const withInput = options.input !== undefined;
  const exec = await docker.getContainer(containerId).exec({
    Cmd: command,
    User: options.user,
    AttachStdin: withInput,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const stream = (await exec.start({ hijack: true, stdin: withInput })) as NodeJS.ReadWriteStream;
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const out = new PassThrough();
  const err = new PassThrough();
  out.on('data', (chunk: Buffer) => stdout.push(chunk));
  err.on('data', (chunk: Buffer) => stderr.push(chunk));
  docker.modem.demuxStream(stream, out, err);
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  if (options.input !== undefined) stream.end(options.input);
  await ended;
  let info = await exec.inspect();
  for (let tries = 0; info.Running && tries < 100; tries++) {
    await sleep(20);
    info = await exec.inspect();
  }
  return {
    exitCode: info.ExitCode ?? 1,
    stdout: Buffer.concat(stdout),
    stderr: Buffer.concat(stderr).toString('utf8'),
  };
}

/** The subnets of every network carrying all of `labels` (berth's: other agents', pool members'). */
export async function subnetsOfLabelled(docker: Docker, labels: Record<string, string>): Promise<string[]> {
  const networks = await docker.listNetworks({ filters: labelFilter(labels) });
  return networks.flatMap((n) =>
    (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => Boolean(s)),
  );
}
