import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { type ComposeCli, compose } from '../adapters/compose.js';
import { applyStack, removeLabelled } from '../adapters/docker.js';
import { appendFile, copyTree, ensureDir, exists, removeTree, writeFile } from '../adapters/files.js';
import { addWorktree, deleteBranch, isLocalBranch, lockWorktree } from '../adapters/git.js';
import type { BerthConfig } from '../config/schema.js';
import { BerthError, interrupted, messageOf, UsageError } from '../errors.js';
import type { AgentRecord } from '../plan/agent.js';
import { type HostFacts, planCompose, renderCompose } from '../plan/compose.js';
import { planEngineStack } from '../plan/engine-stack.js';
import { agentEnv, renderEnvFile } from '../plan/env.js';
import { agentLabels, validateAgentName } from '../plan/names.js';
import { updateState, withGitLock } from '../state/store.js';
import {
  findAgent,
  knownCompose,
  loadRepoConfig,
  openRepo,
  type RepoContext,
  type RepoOptions,
} from './context.js';
import { excludeFromGit } from './exclude.js';
import { runHooks } from './hooks.js';
import { hostFacts, resolveStackImages } from './host-facts.js';
import { leaseFrom } from './lease.js';
import { alreadyProvisioned, type BranchTarget, planBranch, reserve } from './provision-plan.js';
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

export const PROVISION_STEPS = [
  'reserve',
  'files',
  'worktree',
  'start',
  'health',
  'setup',
  'migrate',
  'seed',
  'record',
] as const;
export type ProvisionStep = (typeof PROVISION_STEPS)[number];
const STEP_TEXT: Record<ProvisionStep, string> = {
  reserve: 'reserving ports, subnet and name',
  files: 'writing the compose file',
  worktree: 'adding the worktree and its env file',
  start: 'starting the stack',
  health: 'waiting for postgres and redis',
  setup: 'running setup hooks',
  migrate: 'running migrate hooks',
  seed: 'running seed hooks',
  record: 'recording the agent',
};

/**
 * For crash-safety tests: BERTH_TEST_CRASH_AFTER=<step> kills this process with SIGKILL right after
 * that step, as a crash or `kill -9` would, so tests can check that `berth gc` cleans up after any step.
 */
function crashForTest(completed: ProvisionStep): void {
  if (process.env.BERTH_TEST_CRASH_AFTER === completed) process.kill(process.pid, 'SIGKILL');
}

class StepFailure extends Error {
  constructor(
    readonly step: ProvisionStep,
    override readonly cause: unknown,
  ) {
    super(messageOf(cause));
  }
}

type Undo = () => Promise<unknown> | unknown;

/**
 * Gives an agent its worktree, container, Postgres and Redis; on any failure, undoes what it made.
 * The worktree and the stack are made at the same time: neither needs the other until setup.
 */
export async function provision(options: ProvisionOptions): Promise<AgentSummary> {
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  const config = loadRepoConfig(context, options.configPath);
  const progress = options.progress ?? (() => {});
  if (findAgent(context, name)) throw alreadyProvisioned(context, name);
  const [composeCli, stack, target, host] = await Promise.all([
    knownCompose(),
    resolveStackImages(context.docker, config),
    planBranch(context, name, config, options),
    hostFacts(context),
  ]);

  const dir = context.paths.agentDir(name);
  const undo: Undo[] = [];
  // The first failure stops the other branch too: a health wait need not run on once the worktree failed.
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const step = async <T>(id: ProvisionStep, work: () => Promise<T> | T): Promise<T> => {
    if (signal.aborted) throw new StepFailure(id, interrupted());
    progress(`${name}: ${STEP_TEXT[id]}`);
    if (exists(join(dir, 'logs')))
      appendFile(join(dir, 'logs', 'provision.log'), `${new Date().toISOString()} ${id}\n`);
    try {
      const result = await work();
      crashForTest(id);
      return result;
    } catch (error) {
      stop.abort();
      if (error instanceof StepFailure) throw error;
      throw new StepFailure(id, options.signal?.aborted ? interrupted() : error);
    }
  };
  let stackStarted = false;

  try {
    const agent = await step('reserve', () =>
      reserve(context, config, name, target, stack, dir, options.configPath),
    );
    undo.push(() => forget(context, agent));
    undo.push(() => removeTree(dir));
    const document = await step('files', () => writeFiles(agent, config, host, dir));

    // Registered before the work: a failing `git worktree add` can leave a branch or a half-made folder.
    undo.push(() => withGitLock(context.berthDir, () => undoWorktree(context, agent)));
    undo.push(() => removeLabelled(context.docker, agentLabels(context.repoId, name)));
    // The agent container bind-mounts the worktree: the folder must exist, owned by us, before it starts.
    ensureDir(agent.worktree);
    const results = await Promise.allSettled([
      step('worktree', () => addWorktreeWithEnv(context, agent, config, target)),
      (async () => {
        await step('start', () => {
          stackStarted = true;
          return startStack(context, agent, config, composeCli, document, signal);
        });
        await step('health', () => waitUntilReady(context, agent, config.healthTimeout * 1000, signal));
      })(),
    ]);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;

    for (const hook of ['setup', 'migrate', 'seed'] as const) {
      await step(hook, () => runHooks(context, agent, hook, config.hooks[hook], { signal }));
    }
    const ready = await step('record', () => markReady(context, name));
    progress(`${name}: ready`);
    return summarize(ready ?? agent, 'running', options.showSecrets);
  } catch (error) {
    const failure = error instanceof StepFailure ? error : new StepFailure('reserve', error);
    progress(`${name}: failed at ${failure.step}; rolling back`);
    if (stackStarted) await saveContainerLogs(composeCli, context, name, dir);
    const keptLogs = keepLogs(context, dir, name);
    for (const action of undo.reverse()) {
      try {
        await action();
      } catch (rollbackError) {
        progress(`${name}: rollback step failed: ${messageOf(rollbackError)}`);
      }
    }
    throw describeFailure(name, failure, dir, keptLogs);
  }
}

/** The compose file: the exact description of the stack, whichever way it is applied. */
function writeFiles(agent: AgentRecord, config: BerthConfig, host: HostFacts, dir: string) {
  ensureDir(join(dir, 'logs'), 0o700);
  const document = planCompose(agent, config, host);
  writeFile(agent.composeFile, renderCompose(document), 0o600);
  return document;
}

async function addWorktreeWithEnv(
  context: RepoContext,
  agent: AgentRecord,
  config: BerthConfig,
  target: BranchTarget,
) {
  await withGitLock(context.berthDir, async () => {
    await addWorktree(
      context.root,
      agent.worktree,
      agent.branch,
      target.created ? target.startCommit : undefined,
    );
    await lockWorktree(context.root, agent.worktree, `berth agent ${agent.name}`);
    excludeFromGit(context.commonGitDir, config.envFile);
  });
  const header = `berth agent ${agent.name}: generated, not committed`;
  writeFile(agent.envFile, renderEnvFile(agentEnv(agent, 'host'), header), 0o600);
  chmodSync(agent.envFile, 0o600);
}

/** Through the Engine API (faster), or `compose up` when the config asks for it: the same result. */
async function startStack(
  context: RepoContext,
  agent: AgentRecord,
  config: BerthConfig,
  composeCli: ComposeCli,
  document: Record<string, unknown>,
  signal: AbortSignal,
) {
  if (config.apply === 'api') {
    const stack = planEngineStack(document, {
      project: agent.composeProject,
      composeFile: agent.composeFile,
      variant: composeCli.variant,
      composeVersion: composeCli.version,
    });
    await applyStack(context.docker, stack);
    return;
  }
  const logFile = join(agent.stateDir, 'logs', 'provision.log');
  const up = await compose(composeCli, agent.composeProject, agent.composeFile, ['up', '-d'], {
    logFile,
    signal,
  });
  if (signal.aborted) throw interrupted();
  if (up.exitCode !== 0)
    throw new BerthError('compose-up-failed', `compose up exited with ${up.exitCode}`, { logFile });
}

async function markReady(context: RepoContext, name: string) {
  // A task outcome of an earlier agent with this name is history, not this agent's.
  removeTree(context.paths.outcomeFile(name));
  return updateState(context.berthDir, (state) => {
    const record = state.agents[name];
    if (!record) return undefined;
    record.status = 'ready';
    record.owner = undefined;
    record.lease = leaseFrom(record.lease.ttlSeconds);
    return { ...record };
  });
}

async function forget(context: RepoContext, agent: AgentRecord) {
  await updateState(context.berthDir, (state) => {
    delete state.agents[agent.name];
    if (state.branches?.[agent.branch] === agent.name) delete state.branches[agent.branch];
  });
}

/** Rollback of the worktree step: the worktree, and the branch if this provision made it. */
async function undoWorktree(context: RepoContext, agent: AgentRecord): Promise<void> {
  await dropWorktree(context, agent.worktree);
  if (agent.createdBranch && (await isLocalBranch(context.root, agent.branch))) {
    await deleteBranch(context.root, agent.branch);
  }
}

/** The containers are about to go: keep what they said. */
async function saveContainerLogs(cli: ComposeCli, context: RepoContext, name: string, dir: string) {
  const agent = findAgent(context, name);
  if (!agent || !exists(agent.composeFile)) return;
  const logFile = join(dir, 'logs', 'containers.log');
  await compose(cli, agent.composeProject, agent.composeFile, ['logs', '--no-color'], { logFile }).catch(
    () => {},
  );
}

/** A rolled-back provision leaves its logs (nothing else) in berth's folder, for the error to point at. */
function keepLogs(context: RepoContext, dir: string, name: string): string | undefined {
  const logs = join(dir, 'logs');
  if (!exists(logs)) return undefined;
  const kept = context.paths.failedLogs(name, Date.now());
  copyTree(logs, kept);
  return kept;
}

function describeFailure(
  name: string,
  failure: StepFailure,
  dir: string,
  keptLogs: string | undefined,
): BerthError {
  const error = failure.cause;
  if (error instanceof UsageError) return error;
  const cause = messageOf(error).split('\n')[0];
  const berth = error instanceof BerthError ? error : undefined;
  const logsDir = join(dir, 'logs');
  const stepLog = berth?.logFile?.startsWith(logsDir)
    ? berth.logFile.slice(logsDir.length)
    : '/provision.log';
  const logFile = keptLogs && exists(join(keptLogs, stepLog)) ? join(keptLogs, stepLog) : keptLogs;
  const message = `provisioning ${name} failed at step "${failure.step}": ${cause}`;
  return new BerthError(berth?.code ?? 'provision-failed', message, {
    hint: berth?.hint ?? 'everything it made was removed; fix the cause and run it again',
    exitCode: berth?.exitCode,
    logFile,
    details: berth?.details,
    cause: error,
  });
}
