import { z } from 'zod';

/** A process, identified so that a reused pid is not mistaken for it: pid plus its start time. */
export const processIdSchema = z.object({ pid: z.number().int(), startTime: z.string() });
export type ProcessId = z.output<typeof processIdSchema>;

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
  /** The host env file, inside the worktree. */
  envFile: z.string(),
  /** The config file given with --config, read again for hooks at teardown; else the repository's berth.yaml. */
  configFile: z.string().optional(),
  /** berth's folder for this agent (compose file, logs), under the repository's common git directory. */
  stateDir: z.string(),
  /** Leased host ports: postgres, redis (when enabled) and each app port by name. */
  ports: z.record(z.string(), z.number().int()),
  subnet: z.string(),
  /** With network.outbound false: the network Postgres and Redis publish their ports through. */
  publishSubnet: z.string().optional(),
  passwords: z.object({ postgres: z.string(), redis: z.string() }),
  user: z.object({ uid: z.number().int(), gid: z.number().int() }),
  images: z.object({ agent: z.string(), postgres: z.string(), redis: z.string() }),
  postgres: z.object({
    user: z.string(),
    database: z.string(),
    storage: z.enum(['durable', 'ephemeral']),
    /** The image is berth's pre-initialised Postgres (cluster made at build time). */
    preinitialised: z.boolean(),
  }),
  redisEnabled: z.boolean(),
  /** Container port of each app port, by name; the first is the app's PORT. */
  appPorts: z.record(z.string(), z.number().int()),
  status: z.enum(['provisioning', 'ready']),
  /** The berth process provisioning it, while status is provisioning: gc reaps it if that process died. */
  owner: processIdSchema.optional(),
  createdAt: z.string(),
  /** Renewed by heartbeats; once past, gc reaps the agent (saving uncommitted work first). */
  lease: z.object({ ttlSeconds: z.number(), expiresAt: z.string() }),
});

export type AgentRecord = z.output<typeof agentRecordSchema>;
