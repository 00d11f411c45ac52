import { join } from 'node:path';
import { stringify } from 'yaml';
import { CONFIG_FILE } from '../config/load.js';
import type { BerthConfig } from '../config/schema.js';
import { type AgentRecord, hasPostgres, stackServices } from './agent.js';
import { withWorkspace } from './devcontainer.js';
import { agentEnv, CONTAINER_CA_PATH, databaseUrl, type EnvMap } from './env.js';
import { SECRETS_DIR } from './secrets.js';
import {
  customServiceSpecs,
  type Readiness,
  readinessOf,
  type ServiceRecord,
  type ServiceSpec,
  type SpecMount,
  startOrder,
} from './services.js';

/** Facts about the host that the compose document needs beside the agent record. */
export interface HostFacts {
  commonGitDir: string;
  /** berth's state folder inside the common git directory: hidden from the container. */
  berthDir: string;
  caBundle?: string;
  gitIdentity?: { name: string; email: string };
  /** The host folder of the agent user's shared package caches, when agent.packageCache is on. */
  packageCache?: string;
}

/**
 * What of the common git directory the agent's container sees read-only: the config file and three
 * folders (the host makes the folders when missing, so the agent cannot make them its own).
 */
export const GIT_READ_ONLY = ['config', 'hooks', 'info', 'modules'] as const;

/** Where the shared package caches appear in the agent container. */
export const CONTAINER_PACKAGE_CACHE = '/var/cache/berth-packages';

/**
 * yarn 1's cache is not safe for concurrent installs (yarnpkg/yarn#683): its rc file in the container's
 * HOME makes every yarn 1 take a file mutex in the shared folder. Yarn 2+ ignores it (and its cache
 * writes are atomic).
 */
export const YARN1_RC = `--mutex "file:${CONTAINER_PACKAGE_CACHE}/yarn/.mutex"\n`;
export const YARNRC_NAME = 'yarnrc';

/**
 * Each tool's cache in the shared folder, set by the variable the tool reads. npm's cacache, pnpm's
 * store and pip's http and wheel caches are content-addressed and written atomically: safe to share.
 * pnpm's store is set by pnpm's own names, never `npm_config_store_dir`: npm warns `Unknown env config
 * "store-dir"` on every run for an npm_config_* it does not know. pnpm 11 reads `pnpm_config_store_dir`;
 * pnpm 7.14 to 10 keep their store in `$PNPM_HOME/store`, the same folder.
 */
function packageCacheEnv(host: HostFacts): EnvMap {
  if (!host.packageCache) return {};
  const at = (tool: string) => `${CONTAINER_PACKAGE_CACHE}/${tool}`;
  return {
    npm_config_cache: at('npm'),
    pnpm_config_store_dir: `${at('pnpm')}/store`,
    PNPM_HOME: at('pnpm'),
    YARN_CACHE_FOLDER: at('yarn'),
    PIP_CACHE_DIR: at('pip'),
  };
}

/**
 * Git inside the container shares the object store with every other agent's worktree, which it cannot
 * see: it must never garbage-collect or prune. (berth also locks each worktree it creates.)
 */
export const CONTAINER_GIT_CONFIG: Array<[string, string]> = [
  ['gc.auto', '0'],
  ['maintenance.auto', 'false'],
  ['gc.worktreePruneExpire', 'never'],
  ['gc.pruneExpire', 'never'],
  ['safe.directory', '*'],
];

function gitEnv(host: HostFacts): EnvMap {
  const env: EnvMap = { GIT_CONFIG_COUNT: String(CONTAINER_GIT_CONFIG.length) };
  CONTAINER_GIT_CONFIG.forEach(([key, value], index) => {
    env[`GIT_CONFIG_KEY_${index}`] = key;
    env[`GIT_CONFIG_VALUE_${index}`] = value;
  });
  if (host.gitIdentity) {
    env.GIT_AUTHOR_NAME = host.gitIdentity.name;
    env.GIT_AUTHOR_EMAIL = host.gitIdentity.email;
    env.GIT_COMMITTER_NAME = host.gitIdentity.name;
    env.GIT_COMMITTER_EMAIL = host.gitIdentity.email;
  }
  return env;
}

function caEnv(host: HostFacts): EnvMap {
  if (!host.caBundle) return {};
  return {
    NODE_EXTRA_CA_CERTS: CONTAINER_CA_PATH,
    SSL_CERT_FILE: CONTAINER_CA_PATH,
    GIT_SSL_CAINFO: CONTAINER_CA_PATH,
  };
}

/** The environment of the agent container: the agent's URLs by service name, git and CA settings, config env. */
export function containerEnvironment(agent: AgentRecord, config: BerthConfig, host: HostFacts): EnvMap {
  return {
    // A uid without a passwd entry has HOME=/, which it cannot write.
    HOME: '/tmp',
    ...gitEnv(host),
    ...caEnv(host),
    ...packageCacheEnv(host),
    ...agentEnv(agent, 'container'),
    ...Object.fromEntries(
      Object.entries(config.agent.env).map(([name, value]) => [name, withWorkspace(value, agent.worktree)]),
    ),
  };
}

/**
 * What the services of a stack (Postgres, Redis, their networks and volumes) are planned from: an agent's
 * record, or a warm pool member's (which an agent adopts whole, adding only its own container).
 */
export type StackSpec = Pick<
  AgentRecord,
  | 'labels'
  | 'ports'
  | 'subnet'
  | 'publishSubnet'
  | 'passwords'
  | 'images'
  | 'postgres'
  | 'postgresEnabled'
  | 'redisEnabled'
  | 'services'
> & { stateDir?: string };

const PGDATA = '/var/lib/postgresql/data';
const ephemeral = (stack: Pick<StackSpec, 'postgres'>) => stack.postgres.storage === 'ephemeral';

/** Where the pre-initialised Postgres image keeps the cluster made at build time. */
export const PREINITIALISED_PGDATA = '/var/lib/postgresql/berth-template';
export const NO_CRASH_SAFETY = [
  'postgres',
  '-c',
  'fsync=off',
  '-c',
  'synchronous_commit=off',
  '-c',
  'full_page_writes=off',
];

/**
 * Durable: a named volume, crash-safe. Ephemeral: none of the work that only protects data across a
 * crash (fsync, synchronous commit, full page writes: about three times faster writes), and the data
 * goes with the container. With the pre-initialised image it runs on the cluster made at build time,
 * in the container's own layer: nothing is copied at start. Else it lives in memory (tmpfs).
 */
function postgresStorage(stack: Pick<StackSpec, 'postgres'>): {
  volumes: Mount[];
  command?: string[];
  env: EnvMap;
} {
  if (!ephemeral(stack)) return { volumes: [volume('pgdata', PGDATA)], env: {} };
  if (!stack.postgres.preinitialised) return { volumes: [tmpfs(PGDATA)], command: NO_CRASH_SAFETY, env: {} };
  // The image declares PGDATA's default folder a volume: a tmpfs there keeps Docker from making one.
  return { volumes: [tmpfs(PGDATA)], command: NO_CRASH_SAFETY, env: { PGDATA: PREINITIALISED_PGDATA } };
}

/**
 * A mount in Compose's long syntax: the short "source:target" one cannot hold a path with a colon,
 * and a repository may live under one.
 */
export type Mount = SpecMount;

const bind = (source: string, target = source, readOnly = false): Mount => ({
  type: 'bind',
  source,
  target,
  ...(readOnly && { read_only: true }),
});
const volume = (source: string, target: string): Mount => ({ type: 'volume', source, target });
const tmpfs = (target: string): Mount => ({ type: 'tmpfs', target });

const publish = (hostPort: number | undefined, containerPort: number) =>
  `127.0.0.1:${hostPort}:${containerPort}`;

/** Postgres as a service of the stack: its image, user, password, database and storage. */
export function postgresSpec(stack: StackSpec): ServiceSpec {
  const storage = postgresStorage(stack);
  return {
    name: 'postgres',
    image: stack.images.postgres,
    environment: {
      POSTGRES_USER: stack.postgres.user,
      POSTGRES_PASSWORD: stack.passwords.postgres,
      POSTGRES_DB: stack.postgres.database,
      ...storage.env,
    },
    mounts: storage.volumes,
    ...(storage.command && { command: storage.command }),
    ports: [{ container: 5432, host: stack.ports.postgres }],
    volumes: ephemeral(stack) ? [] : ['pgdata'],
    dependsOn: [],
    ready: postgresReadiness(stack),
  };
}

type ReadinessFacts = Pick<
  StackSpec,
  'ports' | 'passwords' | 'postgres' | 'postgresEnabled' | 'redisEnabled' | 'services'
>;

const postgresReadiness = (stack: Omit<ReadinessFacts, 'redisEnabled'>): Readiness => ({
  kind: 'postgres',
  url: databaseUrl(stack, 'host'),
});
const redisReadiness = (stack: Pick<StackSpec, 'ports' | 'passwords'>): Readiness => ({
  kind: 'redis',
  port: stack.ports.redis ?? 0,
  password: stack.passwords.redis,
});

/** How each service of a stack is probed, by name: the same readiness its ServiceSpec carries. */
export function stackReadiness(stack: ReadinessFacts): Array<{ name: string; ready: Readiness }> {
  return [
    ...(hasPostgres(stack) ? [{ name: 'postgres', ready: postgresReadiness(stack) }] : []),
    ...(stack.redisEnabled ? [{ name: 'redis', ready: redisReadiness(stack) }] : []),
    ...startOrder(stack.services ?? {}).map((name) => ({
      name,
      ready: readinessOf(name, stack.services?.[name] as ServiceRecord, stack.ports),
    })),
  ];
}

/** Redis as a service of the stack: its password, and its data saved every minute to a named volume. */
export function redisSpec(stack: StackSpec): ServiceSpec {
  return {
    name: 'redis',
    image: stack.images.redis,
    environment: {},
    command: ['redis-server', '--requirepass', stack.passwords.redis, '--save', '60', '1'],
    mounts: [volume('redisdata', '/data')],
    ports: [{ container: 6379, host: stack.ports.redis }],
    volumes: ['redisdata'],
    dependsOn: [],
    ready: redisReadiness(stack),
  };
}

/** Every service of a stack but the agent's container: Postgres, Redis, then those of `services:`. */
export function stackServiceSpecs(stack: StackSpec): ServiceSpec[] {
  return [
    ...(hasPostgres(stack) ? [postgresSpec(stack)] : []),
    ...(stack.redisEnabled ? [redisSpec(stack)] : []),
    ...customServiceSpecs(stack),
  ];
}

/** A service's memory and process limits: its own, or for Postgres and Redis the config's. */
function limitsOf(spec: ServiceSpec, config: BerthConfig) {
  const limits =
    spec.limits ?? (spec.name === 'postgres' ? config.postgres.resources : config.redis.resources);
  return { mem_limit: limits.memory, pids_limit: limits.pids };
}

/**
 * The compose document of a stack without its agent: its services (Postgres, Redis, those of
 * `services:`), the private network (and without outbound access the network they publish through) and
 * the volumes. A warm pool member is this; an agent's document adds the agent's own container to it.
 */
export function planStackCompose(stack: StackSpec, config: BerthConfig) {
  const labels = stack.labels;
  // Without outbound access, the services publish through a network the agent is not on.
  const serviceNetworks = stack.publishSubnet ? { private: {}, published: {} } : { private: {} };
  const services: Record<string, unknown> = {};
  const volumes: Record<string, unknown> = {};
  for (const spec of stackServiceSpecs(stack)) {
    services[spec.name] = {
      image: spec.image,
      ...(Object.keys(spec.environment).length > 0 && { environment: spec.environment }),
      volumes: spec.mounts,
      ...(spec.command && { command: spec.command }),
      ...(spec.ports.length > 0 && { ports: spec.ports.map((port) => publish(port.host, port.container)) }),
      networks: serviceNetworks,
      labels,
      restart: config.restart,
      security_opt: ['no-new-privileges:true'],
      ...limitsOf(spec, config),
      ...(spec.dependsOn.length > 0 && { depends_on: spec.dependsOn }),
    };
    for (const name of spec.volumes) volumes[name] = { labels };
  }
  return {
    services,
    networks: {
      private: {
        driver: 'bridge',
        labels,
        ipam: { config: [{ subnet: stack.subnet }] },
        ...(stack.publishSubnet && { internal: true }),
      },
      ...(stack.publishSubnet && {
        published: { driver: 'bridge', labels, ipam: { config: [{ subnet: stack.publishSubnet }] } },
      }),
    },
    volumes,
  };
}

/**
 * The compose document for one agent, as data: its stack (planStackCompose) and its own container. Valid
 * for Compose v1 (1.29) and v2: no top-level `name` (the project is passed with -p), short port syntax,
 * no healthchecks (berth probes readiness itself, so idle stacks cost no CPU).
 */
export function planCompose(
  agent: AgentRecord,
  config: BerthConfig,
  host: HostFacts,
): Record<string, unknown> {
  const stack = planStackCompose(agent, config);
  const { resources } = config.agent;
  const dependsOn = stackServices(agent).filter((service) => service !== 'agent');
  const volumes = [
    bind(agent.worktree),
    bind(host.commonGitDir),
    // What git on the host (berth's, yours) would run is the agent's to read, never to write: the
    // repository's config (filter drivers, ssh, editors), its hooks, its submodules' git folders (each
    // with a config of its own) and info/ (exclude, attributes).
    ...GIT_READ_ONLY.map((name) => bind(join(host.commonGitDir, name), undefined, true)),
    ...(host.caBundle ? [bind(host.caBundle, CONTAINER_CA_PATH, true)] : []),
    ...(host.packageCache
      ? [
          bind(host.packageCache, CONTAINER_PACKAGE_CACHE),
          bind(join(host.packageCache, YARNRC_NAME), '/tmp/.yarnrc', true),
        ]
      : []),
    // Other agents' passwords live in berth's folder inside the shared git directory: hide it.
    tmpfs(host.berthDir),
    // berth writes the agent's secrets here after it starts: in memory, never on a disk.
    tmpfs(SECRETS_DIR),
  ];
  const agentService = {
    image: agent.images.agent,
    command: config.agent.command,
    init: true,
    user: `${agent.user.uid}:${agent.user.gid}`,
    working_dir: agent.worktree,
    environment: containerEnvironment(agent, config, host),
    volumes,
    ...(Object.keys(agent.appPorts).length > 0 && {
      ports: Object.entries(agent.appPorts).map(([name, port]) => publish(agent.ports[name], port)),
    }),
    networks: { private: {} },
    labels: agent.labels,
    restart: config.restart,
    security_opt: ['no-new-privileges:true'],
    cpus: resources.cpus,
    mem_limit: resources.memory,
    pids_limit: resources.pids,
    ...(dependsOn.length > 0 && { depends_on: dependsOn }),
  };
  return {
    'x-berth': { agent: agent.name, branch: agent.branch, worktree: agent.worktree, config: CONFIG_FILE },
    services: { agent: agentService, ...stack.services },
    networks: stack.networks,
    volumes: stack.volumes,
  };
}

/**
 * YAML without anchors and aliases, plain to read and to diff. Compose v1 reads YAML 1.1, where an
 * unquoted `no` or `on` is a boolean: writing for 1.1 quotes them. Every `$` is written `$$`, Compose's
 * escape: the document's values are literal text, and Compose would otherwise fill `$NAME` and
 * `${NAME}` from the environment of whoever runs it (berth's own, under `apply: compose`).
 */
export function renderCompose(document: Record<string, unknown>): string {
  return stringify(escapeDollars(document), { aliasDuplicateObjects: false, version: '1.1' });
}

function escapeDollars(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('$', '$$$$');
  if (Array.isArray(value)) return value.map(escapeDollars);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, escapeDollars(inner)]));
  return value;
}
