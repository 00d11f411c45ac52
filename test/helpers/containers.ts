import type Docker from 'dockerode';
import { execa } from 'execa';
import { TEST_LABEL } from './docker.js';

export interface StartOptions {
  image: string;
  env?: Record<string, string>;
  cmd?: string[];
  /** Container port to publish on 127.0.0.1 at a port the engine picks. */
  publish?: number;
  network?: string;
  alias?: string;
  binds?: string[];
  workingDir?: string;
  user?: string;
}

/** Starts a labelled test container; returns it and, if asked, the host port it is published at. */
export async function startContainer(docker: Docker, options: StartOptions) {
  const portKey = options.publish ? `${options.publish}/tcp` : undefined;
  const container = await docker.createContainer({
    Image: options.image,
    Env: Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`),
    Cmd: options.cmd,
    Labels: { [TEST_LABEL]: 'true' },
    WorkingDir: options.workingDir,
    User: options.user,
    ExposedPorts: portKey ? { [portKey]: {} } : undefined,
    HostConfig: {
      PortBindings: portKey ? { [portKey]: [{ HostIp: '127.0.0.1', HostPort: '' }] } : undefined,
      NetworkMode: options.network,
      Binds: options.binds,
    },
    NetworkingConfig: options.network
      ? { EndpointsConfig: { [options.network]: { Aliases: options.alias ? [options.alias] : [] } } }
      : undefined,
  });
  await container.start();
  const info = await container.inspect();
  const hostPort = portKey ? Number(info.NetworkSettings.Ports[portKey]?.[0]?.HostPort) : undefined;
  return { container, id: container.id, hostPort };
}

export async function dockerExec(id: string, command: string[]) {
  const result = await execa('docker', ['exec', id, ...command], { reject: false });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}
