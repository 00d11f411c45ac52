import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compose } from '../adapters/compose.js';
import { publishedPorts, removeLabelled, subnetsInUse } from '../adapters/docker.js';
import {
  addWorktree,
  currentBranch,
  deleteBranch,
  isLocalBranch,
  isValidBranchName,
  listWorktrees,
  lockWorktree,
  resolveCommit,
} from '../adapters/git.js';
import { portIsFree } from '../adapters/probe.js';
import { currentProcess } from '../adapters/proc.js';
import type { BerthConfig } from '../config/schema.js';
import { BerthError, interrupted, messageOf, UsageError } from '../errors.js';
import type { AgentRecord } from '../plan/agent.js';
import { parsePortRange, pickPorts, pickSubnet } from '../plan/allocate.js';
import { planCompose, renderCompose } from '../plan/compose.js';
import { parseDuration } from '../plan/duration.js';
import { agentEnv, renderEnvFile } from '../plan/env.js';
import {
  agentLabels,
  branchName,
  composeProject,
  extraLabels,
  validateAgentName,
  worktreePath,
} from '../plan/names.js';
import { updateState, withGitLock } from '../state/store.js';
import {
  agentDir,
  findAgent,
  loadRepoConfig,
  openRepo,
  type RepoContext,
  type RepoOptions,
  requireCompose,
} from './context.js';
import { excludeFromGit } from './exclude.js';
import { runHooks } from './hooks.js';
import { hostFacts, resolveStackImages } from './host-facts.js';
import { leaseFrom } from './lease.js';
import { waitUntilReady } from './readiness.js';
import { type AgentSummary, summarize } from './summary.js';
import { dropWorktree } from './teardown.js';

export interface ProvisionOptions extends RepoOptions {
  name: string;
  /** The commit the new branch starts from; default: config worktree.baseRef (HEAD). */
  from?: string;
  /** A branch to work on: an existing one is continued, a new one is created. */
  branch?: string;
  configPath?: string;
  progress?: (message: string) => void;
  /** Aborts between steps (Ctrl-C); what was made is rolled back. */
  signal?: AbortSignal;
  /** Passwords in the returned URLs. */
  showSecrets?: boolean;
}

type Undo = () => Promise<void> | void;

export const PROVISION_STEPS = [
  'reserve',
  'worktree',
  'files',
  'start',
  'health',
  'setup',
  'record',
] as const;
export type ProvisionStep = (typeof PROVISION_STEPS)[number];
const STEP_TEXT: Record<ProvisionStep, string> = {
  reserve: 'reserving ports, subnet and name',
  worktree: 'adding the worktree',
  files: 'writing the env and compose files',
  start: 'starting the stack',
  health: 'waiting for postgres and redis',
  setup: 'running setup hooks',
  record: 'recording the agent',
};

/**
 * For crash-safety tests: BERTH_TEST_CRASH_AFTER=<step> kills this process with SIGKILL right after
 * that step, as a crash or `kill -9` would, so tests can check that `berth gc` cleans up after any step.
 */
function crashForTest(completed: string): void {
  if (process.env.BERTH_TEST_CRASH_AFTER === completed) process.kill(process.pid, 'SIGKILL');
}

/** Gives an agent its worktree, container, Postgres and Redis; on any failure, undoes what it made. */
export async function provision(options: ProvisionOptions): Promise<AgentSummary> {
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  const config = loadRepoConfig(context, options.configPath);
  const progress = options.progress ?? (() => {});
  if (findAgent(context, name)) throw alreadyProvisioned(context, name);
  const composeCli = await requireCompose();
  const images = await resolveStackImages(context.docker, config);
  const target = await planBranch(context, name, config, options);

  const undo: Undo[] = [];
  let step: ProvisionStep | 'checks' = 'checks';
  let started = false;
  const checkpoint = (next: ProvisionStep) => {
    crashForTest(step);
    if (options.signal?.aborted) throw interrupted();
    step = next;
    progress(`${name}: ${STEP_TEXT[next]}`);
  };
  const dir = agentDir(context, name);
  const logFile = join(dir, 'logs', 'provision.log');
  try {
    checkpoint('reserve');
    const agent = await reserve(context, config, name, target, images, dir);
    undo.push(() =>
      updateState(context.berthDir, (state) => {
        delete state.agents[name];
        if (state.branches?.[agent.branch] === name) delete state.branches[agent.branch];
      }),
    );
    undo.push(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'logs'), { recursive: true, mode: 0o700 });
    writeFileSync(logFile, '');

    checkpoint('worktree');
    // Registered first: a failing `git worktree add` can leave a branch or a half-made folder behind.
    undo.push(() => withGitLock(context.berthDir, () => undoWorktree(context, agent)));
    await withGitLock(context.berthDir, async () => {
      await addWorktree(
        context.root,
        agent.worktree,
        agent.branch,
        target.created ? target.startCommit : undefined,
      );
      await lockWorktree(context.root, agent.worktree, `berth agent ${name}`);
      excludeFromGit(context.commonGitDir, config.envFile);
    });

    checkpoint('files');
    const host = await hostFacts(context);
    writeFileSync(
      agent.envFile,
      renderEnvFile(agentEnv(agent, 'host'), `berth agent ${name}: generated, not committed`),
      {
        mode: 0o600,
      },
    );
    chmodSync(agent.envFile, 0o600);
    writeFileSync(agent.composeFile, renderCompose(planCompose(agent, config, host)), { mode: 0o600 });

    checkpoint('start');
    undo.push(() => removeLabelled(context.docker, agentLabels(context.repoId, name)).then(() => {}));
    started = true;
    const up = await compose(composeCli, agent.composeProject, agent.composeFile, ['up', '-d'], {
      logFile,
      signal: options.signal,
    });
    if (options.signal?.aborted) throw interrupted();
    if (up.exitCode !== 0) throw new Error(`compose up exited with ${up.exitCode}`);

    checkpoint('health');
    await waitUntilReady(agent, config.healthTimeout * 1000, options.signal);

    checkpoint('setup');
    await runHooks(context, agent, 'setup', config.hooks.setup, options.signal);

    checkpoint('record');
    await updateState(context.berthDir, (state) => {
      const record = state.agents[name];
      if (!record) return;
      record.status = 'ready';
      record.owner = undefined;
      record.lease = leaseFrom(record.lease.ttlSeconds);
    });
    crashForTest('record');
    progress(`${name}: ready`);
    return summarize(agent, 'running', options.showSecrets);
  } catch (error) {
    progress(`${name}: failed at ${step}; rolling back`);
    if (started && existsSync(composeFile(dir))) {
      // The containers are about to go: keep what they said.
      await compose(
        composeCli,
        composeProject(context.repoId, name),
        composeFile(dir),
        ['logs', '--no-color'],
        {
          logFile: join(dir, 'logs', 'containers.log'),
        },
      ).catch(() => {});
    }
    const keptLogs = keepLogs(context, dir, name);
    for (const action of undo.reverse()) {
      try {
        await action();
      } catch (rollbackError) {
        progress(`${name}: rollback step failed: ${messageOf(rollbackError)}`);
      }
    }
    throw failure(name, step, error, dir, keptLogs);
  }
}

interface BranchTarget {
  branch: string;
  created: boolean;
  startCommit: string;
  baseRef: string;
  worktree: string;
}

/** Checks everything about the branch and folder before anything is made. */
async function planBranch(
  context: RepoContext,
  name: string,
  config: BerthConfig,
  options: ProvisionOptions,
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
async function reserve(
  context: RepoContext,
  config: BerthConfig,
  name: string,
  target: BranchTarget,
  images: AgentRecord['images'],
  dir: string,
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
    const subnet = pickSubnet(config.network.subnetPool, config.network.subnetPrefix, [
      ...dockerSubnets,
      ...others.map((agent) => agent.subnet),
    ]);
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
      composeFile: composeFile(dir),
      envFile: join(target.worktree, config.envFile),
      stateDir: dir,
      ports: Object.fromEntries(portNames.map((portName, index) => [portName, leased[index] as number])),
      subnet,
      passwords: { postgres: secret(), redis: secret() },
      user: { uid: owner.uid, gid: owner.gid },
      images,
      postgres: { user: config.postgres.user, database: config.postgres.database },
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

const composeFile = (dir: string) => join(dir, 'compose.yaml');

function alreadyProvisioned(context: RepoContext, name: string): UsageError {
  return new UsageError('agent-exists', `agent "${name}" is already provisioned in ${context.root}`, {
    hint: `use it (berth exec ${name} -- …), or tear it down first (berth teardown ${name})`,
  });
}

/** URL-safe, so it needs no escaping in DATABASE_URL or REDIS_URL. */
function secret(): string {
  return randomBytes(18).toString('base64url');
}

/** Rollback of the worktree step: the worktree, and the branch if this provision made it. */
async function undoWorktree(context: RepoContext, agent: AgentRecord): Promise<void> {
  await dropWorktree(context, agent.worktree);
  if (agent.createdBranch && (await isLocalBranch(context.root, agent.branch))) {
    await deleteBranch(context.root, agent.branch);
  }
}

/** A rolled-back provision leaves its logs (nothing else) in berth's folder, for the error to point at. */
function keepLogs(context: RepoContext, dir: string, name: string): string | undefined {
  const logs = join(dir, 'logs');
  if (!existsSync(logs)) return undefined;
  const kept = join(context.berthDir, 'failed', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(join(kept, '..'), { recursive: true });
  cpSync(logs, kept, { recursive: true });
  return kept;
}

function failure(
  name: string,
  step: string,
  error: unknown,
  dir: string,
  keptLogs: string | undefined,
): BerthError {
  if (error instanceof UsageError) return error;
  const cause = messageOf(error).split('\n')[0];
  const berth = error instanceof BerthError ? error : undefined;
  const logsDir = join(dir, 'logs');
  const stepLog = berth?.logFile?.startsWith(logsDir)
    ? berth.logFile.slice(logsDir.length)
    : '/provision.log';
  const logFile = keptLogs ? join(keptLogs, stepLog) : undefined;
  return new BerthError(
    berth?.code ?? 'provision-failed',
    `provisioning ${name} failed at step "${step}": ${cause}`,
    {
      hint: berth?.hint ?? 'everything it made was removed; fix the cause and run it again',
      exitCode: berth?.exitCode,
      logFile,
      cause: error,
    },
  );
}
