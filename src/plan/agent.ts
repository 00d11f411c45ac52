import { z } from 'zod';
import type { ServiceRecord } from './services.js';

/** A process, identified so that a reused pid is not mistaken for it: pid plus its start time. */
export const processIdSchema = z.object({ pid: z.number().int(), startTime: z.string() });
export type ProcessId = z.output<typeof processIdSchema>;

export function sameProcess(a: ProcessId, b: ProcessId): boolean {
  return a.pid === b.pid && a.startTime === b.startTime;
}

/**
 * What berth records of one agent in the repository's state.json: enough to run, list and tear it down
 * without the config. The schema checks the file on every read.
 */
export const agentRecordSchema = z.object({
  name: z.string(),
  repoId: z.string(),
  branch: z.string(),
  /** berth made this branch (so it may delete it once merged); false for `--branch` on an existing one. */
  createdBranch: z.boolean(),
  /** What the branch started from and is merged into: a branch name when there was one, else a commit. */
  baseRef: z.string(),
  baseCommit: z.string(),
  worktree: z.string(),
  composeProject: z.string(),
  /** Labels on every container, network and volume: berth's own and BERTH_LABELS. */
  labels: z.record(z.string(), z.string()),
  composeFile: z.string(),
  /** The env file in the worktree: the container's view (services by name), what the agent's code reads. */
  envFile: z.string(),
  /** The host's view (127.0.0.1 and leased ports), in berth's folder; absent in records of older berths. */
  hostEnvFile: z.string().optional(),
  /** The config file given with --config, read again for hooks at teardown; else the repository's berth.yaml. */
  configFile: z.string().optional(),
  /** berth's folder for this agent (compose file, logs), under the repository's common git directory. */
  stateDir: z.string(),
  /** Leased host ports: postgres, redis (when enabled) and each app port by name. */
  ports: z.record(z.string(), z.number().int()),
  subnet: z.string(),
  /**
   * With network.outbound false: the network Postgres and Redis publish their ports through; with
   * network.egress: the egress proxy's outside network.
   */
  publishSubnet: z.string().optional(),
  /**
   * The host lease store its ports and subnets are leased in (the berth home's, or BERTH_LEASES): they are
   * released there, whichever berth home removes the agent. Absent in records of older berths.
   */
  leasesDir: z.string().optional(),
  /** Behind an egress proxy (network.egress): the list it applies is in its folder, not here. */
  egress: z.boolean().optional(),
  /** The secrets it was given (names and where they go; never a value), as of its last provision or sync. */
  secrets: z
    .array(
      z.object({
        name: z.string(),
        to: z.array(z.enum(['agent', 'hooks'])),
        env: z.boolean(),
      }),
    )
    .optional(),
  /**
   * Postgres's and Redis's passwords, and the random values of its services (`<service>.<VARIABLE>`):
   * all masked alike.
   */
  passwords: z.object({ postgres: z.string(), redis: z.string() }).catchall(z.string()),
  /** Its services of `services:` in berth.yaml, as configured, each image resolved (absent: none). */
  services: z
    .record(
      z.string(),
      z.custom<ServiceRecord>((value) => typeof value === 'object' && value !== null),
    )
    .optional(),
  user: z.object({ uid: z.number().int(), gid: z.number().int() }),
  images: z.object({
    agent: z.string(),
    postgres: z.string(),
    redis: z.string(),
    egress: z.string().optional(),
  }),
  postgres: z.object({
    user: z.string(),
    database: z.string(),
    storage: z.enum(['durable', 'ephemeral']),
    /** The image is berth's pre-initialised Postgres (cluster made at build time). */
    preinitialised: z.boolean(),
    /** The image it was provisioned with before any template: what `db reset` returns to without one. */
    baseImage: z.string().optional(),
    /**
     * The database template of its base: `built` when this agent's migrate and seed made it, else it
     * started from a copy of it (and skipped seed).
     */
    template: z.object({ image: z.string(), key: z.string(), built: z.boolean() }).optional(),
  }),
  redisEnabled: z.boolean(),
  /** false: no Postgres (a light environment); absent in records of older berths, which all had one. */
  postgresEnabled: z.boolean().optional(),
  /** Container port of each app port, by name; the first is the app's PORT. */
  appPorts: z.record(z.string(), z.number().int()),
  /**
   * provisioning: being made (by `owner`); ready; removing: being removed (by `removal.by`: provision,
   * exec, heartbeat, run and teardown refuse it meanwhile); failed: a provision that could not be undone
   * (the engine went away), left for gc.
   */
  status: z.enum(['provisioning', 'ready', 'removing', 'failed']),
  /** The berth process provisioning it, while status is provisioning: gc reaps it if that process died. */
  owner: processIdSchema.optional(),
  /** Who removes it and why, while status is removing: gc finishes it if that process died. */
  removal: z.object({ by: processIdSchema, reason: z.string(), since: z.string() }).optional(),
  /** Why a provision failed, when status is failed. */
  failure: z.string().optional(),
  /** Commands running in it now (`berth exec`, `berth run`): while one runs, gc never reaps it. */
  sessions: z
    .array(
      z.object({ process: processIdSchema, kind: z.enum(['exec', 'run', 'db', 'sync']), since: z.string() }),
    )
    .optional(),
  /** The warm pool member this agent adopted: its resources carry that member's agent label. */
  pooled: z.string().optional(),
  /**
   * A random id of this provision, on its labels too: resources of an earlier agent of the same name
   * are told apart from this one's.
   */
  instance: z.string().optional(),
  /**
   * The Claude Code session whose WorktreeCreate hook made this agent: its id, the worktree's name as
   * Claude gave it, what kind of worktree it is, Claude Code's process (while it runs the agent is in
   * use) and when the session ended through its SessionEnd hook.
   */
  claude: z
    .object({
      sessionId: z.string(),
      worktreeName: z.string(),
      kind: z.enum(['session', 'subagent', 'background']),
      process: processIdSchema.optional(),
      endedAt: z.string().optional(),
      /** The berth process watching Claude Code's process: it renews the expiry, and reaps once it ends. */
      watcher: processIdSchema.optional(),
    })
    .optional(),
  createdAt: z.string(),
  /**
   * When it expires: its time to live from its last heartbeat (or running command); once past, gc reaps
   * the agent (saving uncommitted work first).
   */
  expiry: z.object({ ttlSeconds: z.number(), expiresAt: z.string() }),
});

/** A record as stored: one an older berth wrote names its expiry `lease` (the word is the host's leases' now). */
export const storedAgentRecordSchema = z.preprocess(
  (value) =>
    value && typeof value === 'object' && 'lease' in value && !('expiry' in value)
      ? (({ lease, ...rest }) => ({ ...rest, expiry: lease }))(value as { lease: unknown })
      : value,
  agentRecordSchema,
);

export type AgentRecord = z.output<typeof agentRecordSchema>;

/** Everything the record of a new agent is made from: decided, leased or drawn before. */
export interface AgentRecordInput {
  name: string;
  repoId: string;
  target: { branch: string; created: boolean; startCommit: string; baseRef: string; worktree: string };
  composeProject: string;
  composeFile: string;
  stateDir: string;
  envFile: string;
  hostEnvFile: string;
  configFile?: string;
  labels: Record<string, string>;
  leased: { ports: Record<string, number>; subnet: string; publishSubnet?: string };
  /** The host lease store the leases are in. */
  leasesDir: string;
  passwords: AgentRecord['passwords'];
  services?: Record<string, ServiceRecord>;
  user: { uid: number; gid: number };
  images: AgentRecord['images'];
  postgres: AgentRecord['postgres'];
  redisEnabled: boolean;
  postgresEnabled: boolean;
  appPorts: Record<string, number>;
  egress?: boolean;
  secrets?: NonNullable<AgentRecord['secrets']>;
  instance: string;
  owner: ProcessId;
  now: number;
  ttlSeconds: number;
}

/** The record of an agent about to be made: status provisioning, owned by the process making it. */
export function planAgentRecord(input: AgentRecordInput): AgentRecord {
  return {
    name: input.name,
    repoId: input.repoId,
    branch: input.target.branch,
    createdBranch: input.target.created,
    baseRef: input.target.baseRef,
    baseCommit: input.target.startCommit,
    worktree: input.target.worktree,
    composeProject: input.composeProject,
    labels: input.labels,
    composeFile: input.composeFile,
    envFile: input.envFile,
    hostEnvFile: input.hostEnvFile,
    stateDir: input.stateDir,
    ...(input.configFile && { configFile: input.configFile }),
    ports: input.leased.ports,
    subnet: input.leased.subnet,
    ...(input.leased.publishSubnet && { publishSubnet: input.leased.publishSubnet }),
    leasesDir: input.leasesDir,
    passwords: input.passwords,
    ...(input.services && Object.keys(input.services).length > 0 && { services: input.services }),
    user: input.user,
    images: input.images,
    postgres: input.postgres,
    redisEnabled: input.redisEnabled,
    ...(!input.postgresEnabled && { postgresEnabled: false }),
    appPorts: input.appPorts,
    ...(input.egress && { egress: true }),
    ...(input.secrets && input.secrets.length > 0 && { secrets: input.secrets }),
    status: 'provisioning',
    owner: input.owner,
    instance: input.instance,
    createdAt: new Date(input.now).toISOString(),
    expiry: expiryFrom(input.ttlSeconds, input.now),
  };
}

export function expiryFrom(ttlSeconds: number, now: number): AgentRecord['expiry'] {
  return { ttlSeconds, expiresAt: new Date(now + ttlSeconds * 1000).toISOString() };
}

/** URL-safe, so it needs no escaping in DATABASE_URL or REDIS_URL. */
export function secretFrom(bytes: Buffer): string {
  return bytes.toString('base64url');
}

/** Whether the agent has a Postgres: every agent did before postgres.enabled. */
export function hasPostgres(agent: Pick<AgentRecord, 'postgresEnabled'>): boolean {
  return agent.postgresEnabled !== false;
}

/**
 * The host ports an agent leases, by name: Postgres and Redis when enabled, then each app port, then
 * each port of its services (plan/services.ts names them).
 */
export function leasedPortNames(
  services: { postgres: boolean; redis: boolean; others?: string[] },
  appPorts: Record<string, number>,
): string[] {
  return [
    ...(services.postgres ? ['postgres'] : []),
    ...(services.redis ? ['redis'] : []),
    ...Object.keys(appPorts),
    ...(services.others ?? []),
  ];
}

/**
 * The services of an agent's stack: the agent's container, Postgres and Redis when it has them, and its
 * services of `services:`.
 */
export function stackServices(
  agent: Pick<AgentRecord, 'postgresEnabled' | 'redisEnabled'> & { services?: Record<string, unknown> },
): string[] {
  return [
    'agent',
    ...(hasPostgres(agent) ? ['postgres'] : []),
    ...(agent.redisEnabled ? ['redis'] : []),
    ...Object.keys(agent.services ?? {}).sort(),
  ];
}

/** The passwords of a new stack (an agent's, or a pool member's that an agent adopts). */
export function newPasswords(
  random: (size: number) => Buffer,
  others: string[] = [],
): AgentRecord['passwords'] {
  return {
    postgres: secretFrom(random(18)),
    redis: secretFrom(random(18)),
    ...Object.fromEntries(others.map((key) => [key, secretFrom(random(18))])),
  };
}

/**
 * The images and the Postgres of a new stack. With a template of its base, the stack runs the template's
 * image, unless this stack is the one that builds it (`built`): that one runs the base image, and the
 * template is made from its database.
 */
export function planDatabase(input: {
  postgres: Pick<AgentRecord['postgres'], 'user' | 'database' | 'storage'>;
  images: AgentRecord['images'];
  preinitialised: boolean;
  template?: NonNullable<AgentRecord['postgres']['template']> | undefined;
}): Pick<AgentRecord, 'images' | 'postgres'> {
  const { template } = input;
  return {
    images: template && !template.built ? { ...input.images, postgres: template.image } : input.images,
    postgres: {
      user: input.postgres.user,
      database: input.postgres.database,
      storage: input.postgres.storage,
      preinitialised: input.preinitialised,
      baseImage: input.images.postgres,
      ...(template && { template }),
    },
  };
}
