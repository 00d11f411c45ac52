import { join } from 'node:path';
import type { BerthConfig, ServiceConfig } from '../config/schema.js';
import type { AgentRecord } from './agent.js';
import { memoryBytes } from './engine-stack.js';
import type { EnvMap } from './env.js';

/**
 * Every service of an agent's stack besides its own container is one ServiceSpec: Postgres and Redis
 * are presets of it, each entry of `services:` in berth.yaml is one more. The compose document, the
 * readiness probes and the views are planned from these, one code path for all.
 */

/** Names berth's own services and containers hold. */
export const RESERVED_SERVICE_NAMES = ['agent', 'postgres', 'redis', 'egress'];

/** A service's limits unless its config says otherwise (and for an agent recorded before they were). */
export const SERVICE_LIMITS = { memory: '1g', pids: 512 } as const;
export type ServiceLimits = { memory: string; pids: number };

/** How berth knows a service answers. */
export type Readiness =
  | { kind: 'postgres'; url: string }
  | { kind: 'redis'; port: number; password: string }
  | { kind: 'tcp'; port: number; hostPort: number }
  | { kind: 'http'; path: string; port: number; hostPort: number }
  | { kind: 'command'; command: string[] }
  | { kind: 'started' };

/** A mount in Compose's long syntax (see plan/compose.ts). */
export type SpecMount =
  | { type: 'bind'; source: string; target: string; read_only?: boolean }
  | { type: 'volume'; source: string; target: string }
  | { type: 'tmpfs'; target: string; tmpfs?: { size: number } };

export interface ServiceSpec {
  name: string;
  image: string;
  command?: string[];
  environment: EnvMap;
  mounts: SpecMount[];
  /** Container ports with the host ports leased for them. */
  ports: Array<{ container: number; host: number | undefined }>;
  /** Named volumes of the stack this service uses (declared once in the document). */
  volumes: string[];
  dependsOn: string[];
  ready: Readiness;
  /** Its limits: a service of services: carries its own; Postgres's and Redis's come from the config. */
  limits?: ServiceLimits;
}

/** A service of `services:` as an agent's record keeps it: its definition, with the image resolved. */
export type ServiceRecord = ServiceConfig;

/** The services of `services:` in the config: a map (the import form is refused by serviceProblems). */
export function configuredServices(config: Pick<BerthConfig, 'services'>): Record<string, ServiceConfig> {
  const services = config.services;
  return 'from' in services && typeof services.from === 'string'
    ? {}
    : (services as Record<string, ServiceConfig>);
}

/** NAME of NAME_HOST, NAME_PORT, NAME_URL: the service name upper-cased, `-` as `_`. */
export function variablePrefix(service: string): string {
  return service.toUpperCase().replace(/-/g, '_');
}

/** The variable each leased host port is told by, in both views: BERTH_PORT_<lease name>. */
export function portVariable(leaseName: string): string {
  return `BERTH_PORT_${leaseName.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

/** The lease names of a service's ports: its name for the first, name:port for the others. */
export function servicePortNames(service: string, ports: number[]): string[] {
  return ports.map((port, index) => (index === 0 ? service : `${service}:${port}`));
}

/** Where a service's random values are kept among the agent's passwords. */
export function randomKey(service: string, variable: string): string {
  return `${service}.${variable}`;
}

const SUBSTITUTION = /\$\{([^}]*)\}/g;
const KNOWN = `\${random}, \${env.NAME}, \${host}, \${port}`;
const RANDOM = `\${random}`;

/** The keys of the random values a set of services needs: one per variable (and url) using ${random}. */
export function randomKeys(services: Record<string, ServiceConfig>): string[] {
  return Object.entries(services).flatMap(([service, spec]) => [
    ...Object.entries(spec.env)
      .filter(([, value]) => value.includes(RANDOM))
      .map(([variable]) => randomKey(service, variable)),
    ...(spec.url?.includes(RANDOM) ? [randomKey(service, 'URL')] : []),
  ]);
}

interface Place {
  host: string;
  port: number | undefined;
}

/**
 * A value with its substitutions made: ${random} (this variable's random value), ${env.NAME} (another of
 * the service's variables, itself substituted), ${host} and ${port} (where the service is seen from).
 */
function substitute(
  value: string,
  context: {
    service: string;
    variable: string;
    spec: ServiceConfig;
    passwords: Record<string, string>;
    place: Place;
    seen: string[];
  },
): string {
  return value.replace(SUBSTITUTION, (_match, inner: string) => {
    if (inner === 'random') return context.passwords[randomKey(context.service, context.variable)] ?? '';
    if (inner === 'host') return context.place.host;
    if (inner === 'port') return String(context.place.port ?? '');
    const name = /^env\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(inner)?.[1];
    const other = name === undefined ? undefined : context.spec.env[name];
    if (name === undefined || other === undefined || context.seen.includes(name)) return '';
    // Another variable reads as the service's own container sees it.
    const own = { host: context.service, port: context.spec.ports[0] };
    return substitute(other, { ...context, variable: name, place: own, seen: [...context.seen, name] });
  });
}

/** The service's own variables (in its container: ${host} its name, ${port} its first container port). */
export function serviceEnvironment(
  service: string,
  spec: ServiceConfig,
  passwords: Record<string, string>,
): EnvMap {
  const place = { host: service, port: spec.ports[0] };
  return Object.fromEntries(
    Object.entries(spec.env).map(([variable, value]) => [
      variable,
      substitute(value, { service, variable, spec, passwords, place, seen: [variable] }),
    ]),
  );
}

type View = 'host' | 'container';

/** NAME_HOST, NAME_PORT and NAME_URL of a service, as the container or the host sees it. */
export function serviceVariables(
  service: string,
  spec: ServiceConfig,
  agent: Pick<AgentRecord, 'ports' | 'passwords'>,
  view: View,
): EnvMap {
  const prefix = variablePrefix(service);
  const first = spec.ports[0];
  const place: Place =
    view === 'host'
      ? { host: '127.0.0.1', port: first === undefined ? undefined : agent.ports[service] }
      : { host: service, port: first };
  const env: EnvMap = { [`${prefix}_HOST`]: place.host };
  if (place.port !== undefined) env[`${prefix}_PORT`] = String(place.port);
  if (spec.url) {
    const context = { service, variable: 'URL', spec, passwords: agent.passwords, place, seen: [] };
    env[`${prefix}_URL`] = substitute(spec.url, context);
  }
  return env;
}

/** The command as an array: a string is split on spaces (quotes are refused by serviceProblems). */
export function commandOf(command: ServiceConfig['command']): string[] | undefined {
  if (command === undefined) return undefined;
  return Array.isArray(command) ? command : command.trim().split(/\s+/);
}

/** The named volume of a durable service's data path. */
export function serviceVolumeName(service: string, index: number): string {
  return `${service}-data-${index}`;
}

/** What of a stack the services are planned from. */
export interface ServiceStack {
  ports: Record<string, number>;
  passwords: Record<string, string>;
  services?: Record<string, ServiceRecord>;
  /**
   * berth's folder for the agent, where the copies its services mount are (a pool member has none, and
   * no services).
   */
  stateDir?: string;
}

/**
 * Where the copy of a service's mount is kept: in berth's folder for the agent, which no container can
 * write. A service never binds a path of the worktree itself: the agent could swap that folder for a
 * link, and the engine follows links when it mounts again (the service crashing and restarting, the
 * engine coming back), which would give the service the host's files.
 */
export function serviceMountCopy(stateDir: string, service: string, index: number): string {
  return join(stateDir, 'mounts', service, String(index));
}

/** The readiness of a service of `services:`: as configured, else tcp on its first port, else started. */
export function readinessOf(service: string, spec: ServiceConfig, ports: Record<string, number>): Readiness {
  const leased = (port: number) =>
    ports[servicePortNames(service, spec.ports)[spec.ports.indexOf(port)] ?? ''] ?? 0;
  const ready = spec.ready;
  if (ready && 'tcp' in ready) return { kind: 'tcp', port: ready.tcp, hostPort: leased(ready.tcp) };
  if (ready && 'command' in ready) return { kind: 'command', command: ready.command };
  if (ready && 'http' in ready) {
    const port = ready.port ?? spec.ports[0] ?? 0;
    return { kind: 'http', path: ready.http, port, hostPort: leased(port) };
  }
  const first = spec.ports[0];
  return first === undefined ? { kind: 'started' } : { kind: 'tcp', port: first, hostPort: leased(first) };
}

/** The ServiceSpec of one service of `services:` in an agent's stack. */
export function customServiceSpec(service: string, spec: ServiceRecord, stack: ServiceStack): ServiceSpec {
  const names = servicePortNames(service, spec.ports);
  const durable = spec.data === 'durable';
  const volumes = spec.volumes.map((_path, index) => serviceVolumeName(service, index));
  const command = commandOf(spec.command);
  const limits = spec.resources ?? SERVICE_LIMITS;
  return {
    name: service,
    image: spec.image,
    ...(command && { command }),
    environment: serviceEnvironment(service, spec, stack.passwords),
    mounts: [
      ...spec.volumes.map(
        (path, index): SpecMount =>
          durable
            ? { type: 'volume', source: volumes[index] as string, target: path }
            : { type: 'tmpfs', target: path, tmpfs: { size: memoryBytes(limits.memory) } },
      ),
      ...spec.mounts.map(
        (mount, index): SpecMount => ({
          type: 'bind',
          source: serviceMountCopy(stack.stateDir ?? '/nonexistent', service, index),
          target: mount.path,
          ...(mount.readOnly && { read_only: true }),
        }),
      ),
    ],
    ports: spec.ports.map((port, index) => ({ container: port, host: stack.ports[names[index] as string] })),
    volumes: durable ? volumes : [],
    dependsOn: spec.dependsOn,
    ready: readinessOf(service, spec, stack.ports),
    limits,
  };
}

/** The services of `services:` of a stack, dependencies first (the order they are started in). */
export function customServiceSpecs(stack: ServiceStack): ServiceSpec[] {
  const services = stack.services ?? {};
  return startOrder(services).map((name) => customServiceSpec(name, services[name] as ServiceRecord, stack));
}

/** Names in an order where each comes after what it depends on (cycles are refused by serviceProblems). */
export function startOrder(services: Record<string, Pick<ServiceConfig, 'dependsOn'>>): string[] {
  const order: string[] = [];
  const visit = (name: string, path: string[]) => {
    if (order.includes(name) || path.includes(name) || !services[name]) return;
    for (const dependency of services[name].dependsOn) visit(dependency, [...path, name]);
    order.push(name);
  };
  for (const name of Object.keys(services).sort()) visit(name, []);
  return order;
}

/** The host ports an agent's services lease, by name. */
export function serviceLeaseNames(services: Record<string, ServiceConfig>): string[] {
  return Object.entries(services).flatMap(([service, spec]) => servicePortNames(service, spec.ports));
}

/** What is wrong with `services:` beyond its shape: one line per problem, naming the key. */
export function serviceProblems(config: BerthConfig): string[] {
  if ('from' in config.services && typeof config.services.from === 'string')
    return [
      'services.from: an import is read from a repository`s berth.yaml only (not a kept copy or a worker`s --config); list the services under services: here',
    ];
  const services = configuredServices(config);
  const names = Object.keys(services);
  if (names.length === 0) return [];
  const problems: string[] = [];
  // Each port's variable has one owner: Postgres's, Redis's, an app port's or a service's.
  const portOwners = new Map<string, string>();
  for (const name of [
    ...(config.postgres.enabled ? ['postgres'] : []),
    ...(config.redis.enabled ? ['redis'] : []),
  ])
    portOwners.set(portVariable(name), name);
  for (const name of Object.keys(config.ports.app)) portOwners.set(portVariable(name), `ports.app.${name}`);
  for (const [service, spec] of Object.entries(services)) {
    const at = `services.${service}`;
    if (Object.hasOwn(config.ports.app, service))
      problems.push(`${at}: the name is an app port's too (ports.app.${service}); rename one`);
    const prefix = variablePrefix(service);
    if (prefix.startsWith('BERTH'))
      problems.push(
        `${at}: its variables (${prefix}_HOST, …) would be in berth's own BERTH_ names; rename it`,
      );
    if (prefix === 'DATABASE' && config.postgres.enabled)
      problems.push(
        `${at}: its DATABASE_URL would replace Postgres's; rename it, or set postgres.enabled: false`,
      );
    for (const lease of servicePortNames(service, spec.ports)) {
      const variable = portVariable(lease);
      const owner = portOwners.get(variable);
      if (owner && owner !== `services.${service}`)
        problems.push(
          `${at}.ports: ${variable} would name both its port ${lease} and ${owner}'s; rename one`,
        );
      else portOwners.set(variable, `services.${service}`);
    }
    if (new Set(spec.ports).size !== spec.ports.length) problems.push(`${at}.ports: a port is listed twice`);
    if (spec.url && /[\r\n]/.test(spec.url))
      problems.push(`${at}.url: a line break would end its line in the env files; write it on one line`);
    if (typeof spec.command === 'string' && /["'\\]/.test(spec.command))
      problems.push(`${at}.command: a string is split on spaces only; write it as an array to quote`);
    const ready = spec.ready;
    if (ready && 'tcp' in ready && !spec.ports.includes(ready.tcp))
      problems.push(
        `${at}.ready.tcp: ${ready.tcp} is not one of its ports (${spec.ports.join(', ') || 'none'})`,
      );
    if (ready && 'http' in ready) {
      const port = ready.port ?? spec.ports[0];
      if (port === undefined) problems.push(`${at}.ready.http: it has no ports; list one in ports`);
      else if (!spec.ports.includes(port))
        problems.push(`${at}.ready.port: ${port} is not one of its ports (${spec.ports.join(', ')})`);
    }
    if (config.pool.size > 0 && spec.mounts.length > 0)
      problems.push(
        `${at}.mounts: a warm pool member is made before any worktree, and a mount is copied from one; set pool.size to 0 or drop the mounts`,
      );
    if (spec.data === 'durable' && spec.volumes.length === 0)
      problems.push(`${at}.data: durable keeps its volumes; list the container paths under volumes`);
    for (const dependency of spec.dependsOn)
      if (!services[dependency])
        problems.push(`${at}.dependsOn: "${dependency}" is not a service of services: (${names.join(', ')})`);
    if (dependsOnItself(services, service))
      problems.push(`${at}.dependsOn: a cycle leads back to ${service}`);
    const values: Array<[string, string]> = [
      ...Object.entries(spec.env).map(([variable, value]): [string, string] => [`env.${variable}`, value]),
      ...(spec.url ? [['url', spec.url] as [string, string]] : []),
    ];
    for (const [key, value] of values) {
      for (const match of value.matchAll(SUBSTITUTION)) {
        const inner = match[1] ?? '';
        const ref = /^env\.(.+)$/.exec(inner)?.[1];
        if (ref !== undefined) {
          if (spec.env[ref] === undefined)
            problems.push(`${at}.${key}: \${env.${ref}} names no variable of ${service}'s env`);
          else if (key !== 'url' && refersTo(spec.env, ref, key.slice(4), []))
            problems.push(`${at}.${key}: \${env.${ref}} leads back to ${key.slice(4)}`);
        } else if (!['random', 'host', 'port'].includes(inner))
          problems.push(`${at}.${key}: unknown substitution \${${inner}} (known: ${KNOWN})`);
      }
    }
  }
  return problems;
}

function refersTo(env: Record<string, string>, from: string, target: string, seen: string[]): boolean {
  if (from === target) return true;
  if (seen.includes(from)) return false;
  const refs = [...(env[from] ?? '').matchAll(/\$\{env\.([^}]+)\}/g)].map((m) => m[1] as string);
  return refs.some((ref) => refersTo(env, ref, target, [...seen, from]));
}

function dependsOnItself(services: Record<string, ServiceConfig>, start: string): boolean {
  const pending = [...(services[start]?.dependsOn ?? [])];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const next = pending.pop() as string;
    if (next === start) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    pending.push(...(services[next]?.dependsOn ?? []));
  }
  return false;
}

/**
 * The fields of a config that decide what an agent's stack is (its services, Postgres, Redis, its
 * container, its ports and network), named where two configs differ: a sync applies none of them.
 */
export function stackChanges(made: BerthConfig, now: BerthConfig): string[] {
  const fields: Array<[string, (config: BerthConfig) => unknown]> = [
    ['services', (config) => configuredServices(config)],
    ['postgres', (config) => ({ ...config.postgres, template: undefined })],
    ['redis', (config) => config.redis],
    ['agent', (config) => config.agent],
    ['ports', (config) => config.ports],
    ['network', (config) => ({ ...config.network, egress: undefined })],
  ];
  return fields
    .filter(([, pick]) => JSON.stringify(pick(made)) !== JSON.stringify(pick(now)))
    .map(([name]) => name);
}
