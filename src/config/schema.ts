import { z } from 'zod';
import { DEFAULT_IMAGES } from '../plan/images.js';

const portNumber = z.number().int().min(1).max(65535);
const shellCommand = z.string().min(1);
const duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+[smhd]$/, 'expected a duration such as "90s", "30m" or "2h"'),
]);

const hookCommand = z.union([
  shellCommand,
  z.strictObject({
    run: shellCommand,
    on: z.enum(['agent', 'host']).default('agent'),
    /** This command's time limit, instead of hookTimeout. */
    timeout: duration.optional(),
  }),
]);
const hostHookCommand = z.union([
  shellCommand.transform((run) => ({ run, on: 'host' as const })),
  z.strictObject({ run: shellCommand, on: z.literal('host').default('host'), timeout: duration.optional() }),
]);

const portRange = z
  .string()
  .regex(/^\d+-\d+$/, 'expected "LOW-HIGH", for example "20000-29999"')
  .refine((range) => {
    const [low, high] = range.split('-').map(Number) as [number, number];
    return low >= 1024 && high <= 65535 && low <= high;
  }, 'expected 1024 <= LOW <= HIGH <= 65535');

const subnetPool = z
  .string()
  .regex(
    /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/,
    'expected an IPv4 CIDR such as "10.201.0.0/16"',
  );

/** berth.yaml at the repository root. Every field is optional; unknown keys are errors. */
export const configSchema = z.strictObject({
  agent: z
    .strictObject({
      image: z.string().min(1).default(DEFAULT_IMAGES.agent),
      command: z.array(z.string()).min(1).default(['sleep', 'infinity']),
      env: z
        .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not a valid variable name'), z.string())
        .default({}),
      resources: z
        .strictObject({
          cpus: z.number().positive().max(1024).default(2),
          memory: z
            .string()
            .regex(/^\d+(\.\d+)?[kmg]$/i, 'expected a size such as "512m" or "2g"')
            .default('2g'),
          pids: z.number().int().min(16).max(1_000_000).default(1024),
        })
        .prefault({}),
    })
    .prefault({}),
  postgres: z
    .strictObject({
      image: z.string().min(1).default(DEFAULT_IMAGES.postgres),
      database: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits, _')
        .default('app'),
      user: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits, _')
        .default('app'),
      /** Use the image `berth host init` derived with the cluster initialised at build time (much faster start). */
      preinit: z.boolean().default(true),
      /**
       * ephemeral: no fsync, data gone with the container, fastest (agent databases are scratch, rebuilt
       * by migrations). durable: a named volume, crash-safe.
       */
      storage: z.enum(['durable', 'ephemeral']).default('ephemeral'),
    })
    .prefault({}),
  redis: z
    .strictObject({
      image: z.string().min(1).default(DEFAULT_IMAGES.redis),
      enabled: z.boolean().default(true),
    })
    .prefault({}),
  ports: z
    .strictObject({
      range: portRange.default('20000-29999'),
      /** App ports the agent container listens on, by name: published on 127.0.0.1 at a leased port. */
      app: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/, 'lowercase name'), portNumber).default({}),
    })
    .prefault({}),
  network: z
    .strictObject({
      /** Each agent's private network gets a small subnet from here (the engine's own pools run out at ~31). */
      subnetPool: subnetPool.default('10.201.0.0/16'),
      subnetPrefix: z.number().int().min(16).max(29).default(28),
      /** false: the agent container reaches only its own Postgres and Redis, nothing outside. */
      outbound: z.boolean().default(true),
    })
    .prefault({}),
  worktree: z
    .strictObject({
      /** Where worktrees go; relative to the repository's parent folder. Default: "<repo>.worktrees". */
      folder: z.string().min(1).optional(),
      branchPrefix: z.string().default('berth/'),
      baseRef: z.string().min(1).default('HEAD'),
      /** Check out the repository's submodules in each agent's worktree (a failure is a warning). */
      submodules: z.boolean().default(true),
    })
    .prefault({}),
  envFile: z
    .string()
    .regex(/^[^/\\]+$/, 'a file name in the worktree, without folders')
    .default('.env.local'),
  /**
   * Commands per stage, each run in the agent container (default) or `on: host`: setup, migrate and
   * seed after the stack answers (a failure rolls the provision back); teardown before removal (a
   * failure keeps the environment, unless --force); post-teardown on the host after removal.
   */
  hooks: z
    .strictObject({
      setup: z.array(hookCommand).default([]),
      migrate: z.array(hookCommand).default([]),
      seed: z.array(hookCommand).default([]),
      teardown: z.array(hookCommand).default([]),
      // After removal there is no container: these run on the host.
      'post-teardown': z.array(hostHookCommand).default([]),
    })
    .prefault({}),
  /** How long one hook command may run before it is stopped (and the provision rolled back). */
  hookTimeout: duration.default('10m'),
  /** Seconds to wait for Postgres and Redis to answer after the stack starts. */
  healthTimeout: z.number().positive().max(3600).default(60),
  /** How long an agent lives without a heartbeat (`berth heartbeat`, or `berth exec` running) before gc reaps it. */
  leaseTtl: duration.default('30m'),
  /**
   * How the stack is created: through the Engine API (faster; the same containers, names and labels
   * Compose would make), or by running `compose up` on the generated file.
   */
  apply: z.enum(['api', 'compose']).default('api'),
  /** Whether stacks come back after the engine restarts (Compose's restart policy). */
  restart: z.enum(['no', 'unless-stopped', 'always', 'on-failure']).default('unless-stopped'),
});

export type BerthConfig = z.output<typeof configSchema>;

/** Rules across fields, checked after the schema. */
export function crossFieldProblems(config: BerthConfig): string[] {
  const problems: string[] = [];
  if (!config.network.outbound && Object.keys(config.ports.app).length > 0) {
    problems.push(
      'ports.app: cannot publish app ports with network.outbound false (the agent is on an internal network)',
    );
  }
  return problems;
}
export type HookCommand = z.output<typeof hookCommand>;

export function jsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input' });
}
