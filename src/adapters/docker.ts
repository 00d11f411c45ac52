import { appendFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** Where the Docker engine is expected: DOCKER_HOST, else the default socket. */
export type EngineEndpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; url: string };

export function engineEndpoint(env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const host = env.DOCKER_HOST;
  if (!host) return { kind: 'unix', path: DEFAULT_SOCKET };
  if (host.startsWith('unix://'))
    return { kind: 'unix', path: host.slice('unix://'.length) || DEFAULT_SOCKET };
  return { kind: 'tcp', url: host };
}

export function describeEndpoint(endpoint: EngineEndpoint): string {
  return endpoint.kind === 'unix' ? `unix://${endpoint.path}` : endpoint.url;
}

export function connect(endpoint: EngineEndpoint = engineEndpoint()): Docker {
  // For tcp, dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself.
  return endpoint.kind === 'unix' ? new Docker({ socketPath: endpoint.path }) : new Docker();
}

export interface EngineInfo {
  version: string;
  apiVersion: string;
}

export async function engineVersion(docker: Docker): Promise<EngineInfo> {
  const version = await docker.version();
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
        if (line) appendFileSync(logFile, line);
        const message = event.errorDetail?.message ?? event.error;
        if (message) {
          failure = message.trim();
          appendFileSync(logFile, `ERROR: ${failure}\n`);
        }
      },
    );
  });
}

export async function pullImage(docker: Docker, ref: string, logFile: string): Promise<void> {
  const stream = (await docker.pull(ref)) as Readable;
  await followProgress(docker, stream, logFile);
}

export interface BuildRequest {
  contextDir: string;
  files: string[];
  tag: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  logFile: string;
}

export async function buildImage(docker: Docker, request: BuildRequest): Promise<void> {
  const stream = await docker.buildImage(
    { context: request.contextDir, src: request.files },
    { t: request.tag, buildargs: request.buildArgs, labels: request.labels, rm: true, forcerm: true },
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
  const stream = (await docker.importImage(tar, { repo, tag: version })) as unknown as Readable;
  await followProgress(docker, stream, logFile);
}

function splitTag(ref: string): [string, string] {
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
}
