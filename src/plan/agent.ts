import type { ProcessId } from '../adapters/proc.js';

/** What berth records of one agent: enough to run, list and tear it down without the config. */
export interface AgentRecord {
  name: string;
  repoId: string;
  branch: string;
  /** berth made this branch (so it may delete it once merged); false for `--branch` on an existing one. */
  createdBranch: boolean;
  /** What the branch started from and is merged into: a branch name when there was one, else a commit. */
  baseRef: string;
  baseCommit: string;
  worktree: string;
  composeProject: string;
  /** Labels on every container, network and volume: berth's own and BERTH_LABELS. */
  labels: Record<string, string>;
  composeFile: string;
  /** The host env file, inside the worktree. */
  envFile: string;
  /** The config file given with --config, read again for hooks at teardown; else the repository's berth.yaml. */
  configFile?: string;
  /** berth's folder for this agent (compose file, logs), under the repository's common git directory. */
  stateDir: string;
  /** Leased host ports: postgres, redis (when enabled) and each app port by name. */
  ports: Record<string, number>;
  subnet: string;
  /** With network.outbound false: the network Postgres and Redis publish their ports through. */
  publishSubnet?: string;
  passwords: { postgres: string; redis: string };
  user: { uid: number; gid: number };
  images: { agent: string; postgres: string; redis: string };
  postgres: {
    user: string;
    database: string;
    storage: 'durable' | 'ephemeral';
    /** The image is berth's pre-initialised Postgres (cluster made at build time). */
    preinitialised: boolean;
  };
  redisEnabled: boolean;
  /** Container port of each app port, by name; the first is the app's PORT. */
  appPorts: Record<string, number>;
  status: 'provisioning' | 'ready';
  /** The berth process provisioning it, while status is provisioning: gc reaps it if that process died. */
  owner?: ProcessId;
  createdAt: string;
  /** Renewed by heartbeats; once past, gc reaps the agent (saving uncommitted work first). */
  lease: { ttlSeconds: number; expiresAt: string };
}
