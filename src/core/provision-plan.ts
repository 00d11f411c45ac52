import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { publishedPorts, subnetsInUse } from '../adapters/docker.js';
import {
  currentBranch,
  isLocalBranch,
  isValidBranchName,
  listWorktrees,
  resolveCommit,
} from '../adapters/git.js';
import { portIsFree } from '../adapters/probe.js';
import { currentProcess } from '../adapters/proc.js';
import type { BerthConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { AgentRecord } from '../plan/agent.js';
import { parsePortRange, pickPorts, pickSubnet } from '../plan/allocate.js';
import { parseDuration } from '../plan/duration.js';
import { agentLabels, branchName, composeProject, extraLabels, worktreePath } from '../plan/names.js';
import { updateState } from '../state/store.js';
import type { RepoContext } from './context.js';
import { leaseFrom } from './lease.js';

export interface BranchTarget {
  branch: string;
  created: boolean;
  startCommit: string;
  baseRef: string;
  worktree: string;
}

/** Checks everything about the branch and folder before anything is made. */
export async function planBranch(
  context: RepoContext,
  name: string,
  config: BerthConfig,
  options: { from?: string; branch?: string },
): Promise<BranchTarget> {
  const from = options.from ?? config.worktree.baseRef;
  const startCommit = await resolveCommit(context.root, from);
  if (!startCommit) {
    throw new UsageError('bad-ref', `"${from}" does not name a commit in ${context.root}`, {
      hint: 'pass --from with a branch, tag or commit that exists (git log --oneline)',
    });
  }
  const baseRef = from === 'HEAD' ? ((await currentBranch(context.root)) ?? startCommit) : from;
  const branch = options.branch ?? branchName(config.worktree.branchPrefix, name);
  if (!(await isValidBranchName(context.root, branch))) {
    throw new UsageError('bad-branch', `"${branch}" is not a valid branch name`, {
      hint: 'see `git check-ref-format --help`; use letters, digits, "/", "-" and "."',
    });
  }
  const exists = await isLocalBranch(context.root, branch);
  if (exists && !options.branch) {
    throw new UsageError('branch-exists', `branch ${branch} already exists`, {
      hint: `continue on it with --branch ${branch}, or delete it (git branch -d ${branch})`,
    });
  }
  if (exists) {
    const checkedOut = (await listWorktrees(context.root)).find((entry) => entry.branch === branch);
    if (checkedOut) {
      throw new UsageError('branch-checked-out', `branch ${branch} is checked out at ${checkedOut.path}`, {
        hint: 'a branch can be checked out in one worktree only; pick another branch',
      });
    }
  }
  const worktree = worktreePath(context.root, name, config.worktree.folder);
  if (existsSync(worktree)) {
    throw new UsageError('worktree-exists', `${worktree} already exists`, {
      hint: 'remove that folder, or set worktree.folder in berth.yaml',
    });
  }
  return { branch, created: !exists, startCommit, baseRef, worktree };
}

/** Leases ports and a subnet and records the agent as provisioning, all under the state lock. */
export async function reserve(
  context: RepoContext,
  config: BerthConfig,
  name: string,
  target: BranchTarget,
  stack: { images: AgentRecord['images']; postgresPreinitialised: boolean },
  dir: string,
  configFile?: string,
): Promise<AgentRecord> {
  const [dockerPorts, dockerSubnets] = await Promise.all([
    publishedPorts(context.docker),
    subnetsInUse(context.docker),
  ]);
  const owner = statSync(context.root);
  return updateState(context.berthDir, async (state) => {
    if (state.agents[name]) throw alreadyProvisioned(context, name);
    const others = Object.values(state.agents);
    const taken = new Set([...dockerPorts, ...others.flatMap((agent) => Object.values(agent.ports))]);
    const portNames = [
      'postgres',
      ...(config.redis.enabled ? ['redis'] : []),
      ...Object.keys(config.ports.app),
    ];
    const leased = await pickPorts(portNames.length, parsePortRange(config.ports.range), taken, portIsFree);
    const inUse = [...dockerSubnets, ...others.flatMap((agent) => [agent.subnet, agent.publishSubnet ?? ''])];
    const subnet = pickSubnet(config.network.subnetPool, config.network.subnetPrefix, inUse.filter(Boolean));
    // Without outbound access the private network is internal, and an internal network drops published
    // ports: Postgres and Redis publish through a second network the agent is not on.
    const publishSubnet = config.network.outbound
      ? undefined
      : pickSubnet(
          config.network.subnetPool,
          config.network.subnetPrefix,
          [...inUse, subnet].filter(Boolean),
        );
    const agent: AgentRecord = {
      name,
      repoId: context.repoId,
      branch: target.branch,
      createdBranch: target.created,
      baseRef: target.baseRef,
      baseCommit: target.startCommit,
      worktree: target.worktree,
      composeProject: composeProject(context.repoId, name),
      labels: { ...extraLabels(process.env.BERTH_LABELS), ...agentLabels(context.repoId, name) },
      composeFile: context.paths.composeFile(name),
      envFile: join(target.worktree, config.envFile),
      stateDir: dir,
      configFile: configFile && resolve(configFile),
      ports: Object.fromEntries(portNames.map((portName, index) => [portName, leased[index] as number])),
      subnet,
      ...(publishSubnet && { publishSubnet }),
      passwords: { postgres: secret(), redis: secret() },
      user: { uid: owner.uid, gid: owner.gid },
      images: stack.images,
      postgres: {
        user: config.postgres.user,
        database: config.postgres.database,
        storage: config.postgres.storage,
        preinitialised: stack.postgresPreinitialised,
      },
      redisEnabled: config.redis.enabled,
      appPorts: config.ports.app,
      status: 'provisioning',
      owner: currentProcess(),
      createdAt: new Date().toISOString(),
      lease: leaseFrom(parseDuration(config.leaseTtl)),
    };
    state.agents[name] = agent;
    if (target.created) state.branches = { ...state.branches, [target.branch]: name };
    return agent;
  });
}

export function alreadyProvisioned(context: RepoContext, name: string): UsageError {
  return new UsageError('agent-exists', `agent "${name}" is already provisioned in ${context.root}`, {
    hint: `use it (berth exec ${name} -- …), or tear it down first (berth teardown ${name})`,
  });
}

/** URL-safe, so it needs no escaping in DATABASE_URL or REDIS_URL. */
function secret(): string {
  return randomBytes(18).toString('base64url');
}
