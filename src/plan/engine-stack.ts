import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import type { Mount } from './compose.js';
import type { ComposeVariant } from './compose-source.js';
import { SERVICE_LABEL } from './names.js';

/**
 * The Engine API calls that create what a compose document describes, as Compose itself would (same
 * names and com.docker.compose.* labels), so `docker compose -p P -f F ps|logs|down` work on the stack.
 * Derived from the document, so the file stays the exact description of what runs.
 */
export interface EngineStack {
  networks: Array<{
    name: string;
    labels: Record<string, string>;
    subnet?: string;
    internal: boolean;
    /** The driver's options (driver_opts): an egress agent's network has no address on the host. */
    options?: Record<string, string>;
  }>;
  volumes: Array<{ name: string; labels: Record<string, string> }>;
  containers: Array<{
    name: string;
    service: string;
    options: Record<string, unknown>;
    /** Services of the stack started before this one (depends_on of a service of `services:`). */
    after?: string[];
  }>;
}

interface Service {
  image: string;
  command?: string[];
  environment?: Record<string, string>;
  user?: string;
  working_dir?: string;
  init?: boolean;
  volumes?: Mount[];
  ports?: string[];
  networks?: Record<string, { ipv4_address?: string } | null>;
  hostname?: string;
  labels?: Record<string, string>;
  restart?: string;
  security_opt?: string[];
  cap_drop?: string[];
  cpus?: number;
  mem_limit?: string;
  pids_limit?: number;
  depends_on?: string[];
}

interface ComposeDocument {
  services: Record<string, Service>;
  networks?: Record<
    string,
    {
      labels?: Record<string, string>;
      internal?: boolean;
      driver_opts?: Record<string, string>;
      ipam?: { config?: Array<{ subnet?: string }> };
    }
  >;
  volumes?: Record<string, { labels?: Record<string, string> }>;
}

export interface EngineStackInput {
  project: string;
  composeFile: string;
  variant: ComposeVariant;
  composeVersion: string;
}

const UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function memoryBytes(size: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg])$/i.exec(size);
  if (!match) throw new Error(`not a memory size: ${size}`);
  return Math.round(Number(match[1]) * (UNITS[(match[2] as string).toLowerCase()] ?? 1));
}

export function containerName(project: string, service: string, variant: ComposeVariant): string {
  return variant === 'v2' ? `${project}-${service}-1` : `${project}_${service}_1`;
}

/** The Engine API form of a stack's compose document, for its project and the Compose berth found. */
export function engineStackOf(
  document: unknown,
  stack: { composeProject: string; composeFile: string },
  compose: { variant: ComposeVariant; version: string },
): EngineStack {
  return planEngineStack(document, {
    project: stack.composeProject,
    composeFile: stack.composeFile,
    variant: compose.variant,
    composeVersion: compose.version,
  });
}

export function planEngineStack(document: unknown, input: EngineStackInput): EngineStack {
  const doc = document as ComposeDocument;
  const { project, composeVersion } = input;
  const scoped = (name: string) => `${project}_${name}`;
  const composeLabels = {
    'com.docker.compose.project': project,
    'com.docker.compose.version': composeVersion,
  };

  const networks = Object.entries(doc.networks ?? {}).map(([key, network]) => ({
    name: scoped(key),
    labels: { ...network.labels, ...composeLabels, 'com.docker.compose.network': key },
    subnet: network.ipam?.config?.[0]?.subnet,
    internal: network.internal ?? false,
    ...(network.driver_opts && { options: network.driver_opts }),
  }));
  const volumes = Object.entries(doc.volumes ?? {}).map(([key, volume]) => ({
    name: scoped(key),
    labels: { ...volume.labels, ...composeLabels, 'com.docker.compose.volume': key },
  }));
  const containers = Object.entries(doc.services).map(([service, spec]) => ({
    name: containerName(project, service, input.variant),
    service,
    options: containerOptions(service, spec, { ...input, scoped, composeLabels }),
    // The agent's container waits for nothing (berth probes the services while it starts).
    ...(service !== 'agent' && spec.depends_on?.length && { after: spec.depends_on }),
  }));
  return { networks, volumes, containers };
}

function containerOptions(
  service: string,
  spec: Service,
  context: EngineStackInput & { scoped: (name: string) => string; composeLabels: Record<string, string> },
): Record<string, unknown> {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const port of spec.ports ?? []) {
    const [hostIp, hostPort, containerPort] = port.split(':') as [string, string, string];
    exposed[`${containerPort}/tcp`] = {};
    bindings[`${containerPort}/tcp`] = [{ HostIp: hostIp, HostPort: hostPort }];
  }
  const mounts = (spec.volumes ?? []).map((mount) =>
    mount.type === 'tmpfs'
      ? {
          Type: 'tmpfs',
          Target: mount.target,
          ...(mount.tmpfs && { TmpfsOptions: { SizeBytes: mount.tmpfs.size } }),
        }
      : mount.type === 'volume'
        ? { Type: 'volume', Source: context.scoped(mount.source), Target: mount.target }
        : { Type: 'bind', Source: mount.source, Target: mount.target, ReadOnly: mount.read_only ?? false },
  );
  const networks = Object.entries(spec.networks ?? {});
  const networkNames = networks.map(([key]) => context.scoped(key));
  return {
    ...(spec.hostname && { Hostname: spec.hostname }),
    Image: spec.image,
    Cmd: spec.command,
    Env: Object.entries(spec.environment ?? {}).map(([key, value]) => `${key}=${value}`),
    User: spec.user,
    WorkingDir: spec.working_dir,
    ExposedPorts: exposed,
    Labels: {
      ...spec.labels,
      ...context.composeLabels,
      [SERVICE_LABEL]: service,
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.container-number': '1',
      'com.docker.compose.config-hash': createHash('sha256').update(JSON.stringify(spec)).digest('hex'),
      'com.docker.compose.project.config_files': context.composeFile,
      'com.docker.compose.project.working_dir': dirname(context.composeFile),
    },
    HostConfig: {
      Init: spec.init,
      Mounts: mounts,
      PortBindings: bindings,
      NetworkMode: networkNames[0],
      RestartPolicy: { Name: spec.restart ?? 'no' },
      SecurityOpt: spec.security_opt,
      ...(spec.cap_drop && { CapDrop: spec.cap_drop }),
      NanoCpus: spec.cpus ? Math.round(spec.cpus * 1e9) : undefined,
      Memory: spec.mem_limit ? memoryBytes(spec.mem_limit) : undefined,
      PidsLimit: spec.pids_limit,
    },
    NetworkingConfig: {
      EndpointsConfig: Object.fromEntries(
        networks.map(([key, endpoint]) => [
          context.scoped(key),
          {
            Aliases: [service],
            ...(endpoint?.ipv4_address && { IPAMConfig: { IPv4Address: endpoint.ipv4_address } }),
          },
        ]),
      ),
    },
  };
}

/**
 * The order containers start in: waves, each after the services its members come after (those in the
 * stack). What a cycle leaves goes in one last wave.
 */
export function startWaves(containers: ReadonlyArray<{ service: string; after?: string[] }>): string[][] {
  const known = new Set(containers.map((c) => c.service));
  const waves: string[][] = [];
  const placed = new Set<string>();
  let pending = [...containers];
  while (pending.length > 0) {
    const wave = pending.filter((c) =>
      (c.after ?? []).every((service) => placed.has(service) || !known.has(service)),
    );
    const next = wave.length > 0 ? wave : pending;
    waves.push(next.map((c) => c.service));
    for (const c of next) placed.add(c.service);
    pending = pending.filter((c) => !next.includes(c));
  }
  return waves;
}
