import { basename, dirname, join, relative, sep } from 'node:path';
import { type ComposeCli, compose } from '../../adapters/compose.js';
import { ConfinedPathError, writeConfined } from '../../adapters/confined-files.js';
import {
  applyStack,
  engineAnswers,
  engineGone as engineLost,
  removeLabelled,
} from '../../adapters/docker.js';
import {
  appendFile,
  copyTree,
  copyTreeKeepingLinks,
  ensureDir,
  ensureOwnedDir,
  exists,
  readText,
  realPath,
  removeTree,
  writeFile,
} from '../../adapters/files.js';
import {
  addWorktree,
  deleteBranch,
  lockWorktree,
  readsWorktreeConfig,
  resolveCommit,
} from '../../adapters/git.js';
import type { BerthConfig } from '../../config/schema.js';
import type { AgentView } from '../../contract.js';
import { BerthError, EnvironmentError, messageOf, UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { expiryFrom } from '../../plan/agent.js';
import {
  conflictHeld,
  conflictPersists,
  ENGINE_CONFLICT_TRIES,
  engineConflict,
} from '../../plan/allocate.js';
import { type HostFacts, renderCompose, YARN1_RC, YARNRC_NAME } from '../../plan/compose.js';
import { DEVCONTAINER_FILES } from '../../plan/devcontainer.js';
import { engineStackOf } from '../../plan/engine-stack.js';
import { agentEnv, renderEnvFile } from '../../plan/env.js';
import {
  repoLabels,
  serviceLabels,
  stackLabels,
  validateAgentName,
  worktreeLockReason,
} from '../../plan/names.js';
import { type ServiceRecord, serviceMountCopy } from '../../plan/services.js';
import { shellQuote } from '../../plan/shell.js';
import { envFrom } from '../../runtime.js';
import { namedLog } from '../../state/paths.js';
import { updateState, withGitLock } from '../../state/store.js';
import {
  findAgent,
  knownCompose,
  loadRepoConfigWithText,
  openRepo,
  type RepoContext,
  type RepoOptions,
  trustedTree,
} from '../context.js';
import { agentBuildImage } from './agent-image.js';
import { agentDocument } from './document.js';
import { writeEgressFiles } from './egress.js';
import { excludeFromGit } from './exclude.js';
import { runInAgent } from './exec.js';
import { runHooks } from './hooks.js';
import { copyWorktreeIncludes, WORKTREE_INCLUDE } from './include.js';
import { currentPoolKey, type PoolOffer, poolOffer, refillInBackground } from './pool.js';
import { prepareProbes, waitUntilReady, waitUntilSteady } from './readiness.js';
import { dropRecord, dropWorktree } from './remove.js';
import {
  alreadyProvisioned,
  type BranchTarget,
  type EngineTaken,
  engineTaken,
  releaseConflict,
  reserve,
  resolveBranchTarget,
} from './reserve.js';
import { giveSecrets, type ResolvedSecrets, resolveSecrets, secretsFor, takeSecrets } from './secrets.js';
import { hostFacts, resolveServiceImages, resolveStackImages } from './stack-facts.js';
import { asStepFailure, type StepFailure, Steps } from './steps.js';
import { buildTemplate, settleTemplate, type TemplateClaim } from './template.js';
import { crashForTest, holdForTest } from './test-points.js';
import { agentView, freshFacts, hostEnvFileOf } from './views.js';

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
  /**
   * A light environment: the worktree and the agent container, no Postgres and no Redis, whatever the
   * config says (what Claude Code's subagent and background worktrees get).
   */
  light?: boolean;
  /**
   * The devcontainer.json to take the agent container from (a path in the trusted working tree, or
   * absolute inside it); default: berth.yaml's devcontainer, else the repository's own when it has one.
   */
  devcontainer?: string;
  /**
   * false: the config file alone, nothing a devcontainer.json or compose import gives (a fleet worker,
   * whose berth.yaml is checked at a commit apart from its clone's working tree).
   */
  imports?: false;
}

export const PROVISION_STEPS = [
  'reserve',
  'files',
  'worktree',
  'start',
  'health',
  'submodules',
  'secrets',
  'setup',
  'migrate',
  'seed',
  'template',
  'record',
] as const;
export type ProvisionStep = (typeof PROVISION_STEPS)[number];
const STEP_TEXT: Record<ProvisionStep, string> = {
  reserve: 'reserving ports, subnet and name',
  files: 'writing the compose file',
  worktree: 'adding the worktree and its env file',
  start: 'starting the stack',
  health: 'waiting for its services to answer',
  submodules: 'checking out its submodules in its container',
  secrets: 'giving the agent its secrets',
  setup: 'running setup hooks',
  migrate: 'running migrate hooks',
  seed: 'running seed hooks',
  template: 'saving the database as the template of its base',
  record: 'recording the agent',
};
const HOOK_STEPS = ['setup', 'migrate', 'seed'] as const;

async function checkOutSubmodules(
  context: RepoContext,
  agent: AgentRecord,
  progress: (message: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const logFile = context.paths.submodulesLog(agent.name);
  const { exitCode } = await runInAgent(
    context,
    agent,
    ['git', 'submodule', 'update', '--init', '--recursive'],
    {
      logFile,
      signal,
    },
  );
  if (exitCode !== 0) {
    // git's reason is its first fatal line (the last says only that it gave up).
    const lines = (readText(logFile) ?? '').trim().split('\n');
    const why = lines.find((line) => line.startsWith('fatal:')) ?? (lines.at(-1) || `exit code ${exitCode}`);
    progress(`${agent.name}: warning: its submodules could not be initialised (${why}); they are empty`);
  }
}

/** The agent could write a config git on the host reads (its worktree's own): refused before anything is made. */
function worktreeConfigRefused(root: string): UsageError {
  return new UsageError(
    'worktree-config',
    `the repository at ${root} reads each worktree's own git config (extensions.worktreeConfig), which an agent could write and git on the host would run`,
    {
      hint: 'turn it off for agents (git config --unset extensions.worktreeConfig; git sparse-checkout turns it on), then provision again',
    },
  );
}

/**
 * Gives an agent its worktree, container, Postgres and Redis; on any failure, undoes what it made.
 * The worktree and the stack are made at the same time: neither needs the other until setup.
 */
export async function provision(options: ProvisionOptions): Promise<AgentView> {
  const name = validateAgentName(options.name);
  const context = await openRepo(options);
  const progress = options.progress ?? (() => {});
  // Asked of git now, answered while the config is read (a bad config throws first: the answer is
  // then not waited for, and its failure not reported unhandled).
  const worktreeConfig = readsWorktreeConfig(context.root);
  worktreeConfig.catch(() => {});
  const repoConfig = loadRepoConfigWithText(context, options.configPath, {
    ...(options.devcontainer && { devcontainer: options.devcontainer }),
    ...(options.imports === false && { imports: false }),
    notes: (line) => progress(`${name}: ${line}`),
  });
  if (options.imports === false)
    for (const file of DEVCONTAINER_FILES.filter((f) => exists(join(trustedTree(context), f))))
      progress(
        `${name}: ${file}: not read (on a fleet worker berth.yaml alone decides, from the commit it checked)`,
      );
  const loaded = lightened(repoConfig.config, options.light);
  const existing = findAgent(context, name);
  if (existing) throw alreadyProvisioned(context, name, existing);
  if (await worktreeConfig) throw worktreeConfigRefused(context.root);
  // agent.build: the image built from the trusted working tree (reused while its inputs are the same).
  const config = loaded.agent.build
    ? {
        ...loaded,
        agent: {
          ...loaded.agent,
          image: await agentBuildImage(
            context.docker,
            trustedTree(context),
            loaded.agent.build,
            repoLabels(context.repoId),
            context.paths.agentBuildLog,
            progress,
          ),
        },
      }
    : loaded;
  // Secrets are resolved before anything is made: a reference that does not resolve makes nothing.
  const [composeCli, images, target, host, secrets, services, taken] = await Promise.all([
    knownCompose(context.runtime.env),
    resolveStackImages(context.docker, config, context.paths.pullLog),
    resolveBranchTarget(context, name, config, options),
    hostFacts(context, config),
    resolveSecrets(context, config, options.signal),
    // A stand-in (MariaDB, memcached) missing on this host is built here, before anything is made.
    resolveServiceImages(context, config, progress),
    // What the engine holds (ports, subnets), read outside every lock; a later conflict is retried.
    engineTaken(context),
  ]);
  const stack = { ...images, services };

  const template = await settleTemplate(context, config, target.startCommit, stack, {
    progress,
    name,
    signal: options.signal,
  });
  // A warm environment fits only a stack made the same way: through the API, with the template ready.
  const offer =
    config.pool.size > 0 && config.apply === 'api' && !template?.use.built
      ? await offerFromPool(context, config, target.startCommit, stack)
      : undefined;
  try {
    const view = await provisionWith(
      context,
      config,
      { ...options, name },
      { composeCli, stack, target, host, template, offer, secrets, taken, configText: repoConfig.text },
    );
    if (!options.light) refillInBackground(context, config, options.configPath);
    return view;
  } finally {
    await template?.release();
  }
}

/**
 * The Compose command line for an agent's stack, ready to paste: `docker compose` (or `docker-compose`)
 * with its project and file, each word quoted as a shell reads it back; append ps, logs, down.
 */
export async function composeCommandLine(
  agent: Pick<AgentView, 'composeProject' | 'composeFile'>,
  env?: NodeJS.ProcessEnv,
): Promise<string> {
  const cli = await knownCompose(envFrom(env));
  return [...cli.command, '-p', agent.composeProject, '-f', agent.composeFile].map(shellQuote).join(' ');
}

/** The config of a light environment: Postgres and Redis off (and with them, templates and the pool). */
function lightened(config: BerthConfig, light: boolean | undefined): BerthConfig {
  if (!light) return config;
  return {
    ...config,
    postgres: { ...config.postgres, enabled: false },
    redis: { ...config.redis, enabled: false },
    services: {},
    pool: { size: 0 },
  };
}

async function offerFromPool(
  context: RepoContext,
  config: BerthConfig,
  startCommit: string,
  stack: Awaited<ReturnType<typeof resolveStackImages>> & { services: Record<string, ServiceRecord> },
) {
  const current = await currentPoolKey(context, config, startCommit, stack);
  return current && (await poolOffer(context, current.key));
}

async function provisionWith(
  context: RepoContext,
  config: BerthConfig,
  options: ProvisionOptions,
  facts: {
    composeCli: ComposeCli;
    stack: Awaited<ReturnType<typeof resolveStackImages>> & { services: Record<string, ServiceRecord> };
    target: BranchTarget;
    host: HostFacts;
    template: TemplateClaim | undefined;
    offer?: PoolOffer | undefined;
    secrets: ResolvedSecrets;
    taken: EngineTaken;
    /** The copy of the config kept for the agent (loadRepoConfigWithText's text). */
    configText: string;
  },
): Promise<AgentView> {
  const { name } = options;
  const progress = options.progress ?? (() => {});
  const { composeCli, stack, target, host } = facts;
  const fromTemplate = facts.template && !facts.template.use.built;
  const dir = context.paths.agentDir(name);
  const provisionLog = context.paths.agentLog(name, 'provision');
  // Without a database, migrate and seed have nothing to run against.
  const hookCommands = (hook: (typeof HOOK_STEPS)[number]) =>
    (hook === 'seed' && fromTemplate) || (hook !== 'setup' && !config.postgres.enabled)
      ? []
      : config.hooks[hook];
  // Set once the worktree is there: whether it has submodules to check out (else the step is silent).
  let submodules = false;
  const silent = (id: ProvisionStep) =>
    (id === 'submodules' && !submodules) ||
    ((HOOK_STEPS as readonly string[]).includes(id) && hookCommands(id as 'setup').length === 0) ||
    (id === 'seed' && fromTemplate) ||
    (id === 'secrets' && facts.secrets.grants.length === 0) ||
    (id === 'template' && !facts.template?.use.built);
  const steps = new Steps<ProvisionStep>({
    onStep: (id) => {
      if (!silent(id)) progress(`${name}: ${STEP_TEXT[id]}`);
      if (exists(dirname(provisionLog)))
        appendFile(provisionLog, `${new Date(context.runtime.now()).toISOString()} ${id}\n`);
    },
    afterStep: async (id) => {
      crashForTest(context.runtime.env, id);
      await holdForTest(context.runtime.env, id);
    },
    signal: options.signal,
  });
  let agent: AgentRecord | undefined;
  let stackStarted = false;
  try {
    agent = await steps.run('reserve', () =>
      reserve(
        context,
        config,
        name,
        target,
        { ...stack, template: facts.template?.use },
        {
          offer: facts.offer,
          taken: facts.taken,
        },
      ),
    );
    let made = agent;
    if (made.pooled) progress(`${name}: taking ${made.pooled} from the warm pool`);
    steps.undo('agent folder', () => removeTree(dir));
    const { configText } = facts;
    let document = await steps.run('files', () => writeFiles(context, made, config, host, configText));
    // Registered before the work: a failing `git worktree add` can leave a branch or a half-made folder.
    steps.undo('worktree and branch', () => withGitLock(context.berthDir, () => undoWorktree(context, made)));
    steps.undo('containers, networks and volumes', () => removeLabelled(context.docker, stackLabels(made)));
    // The agent container bind-mounts the worktree: the folder must exist, owned by us, before it starts.
    ensureDir(made.worktree);
    const healthTimeoutMs = config.healthTimeout * 1000;
    let released = false;
    // Whether the stack answered already: an adopted member's is probed while its agent's container starts.
    const start = () =>
      steps.run('start', async () => {
        stackStarted = true;
        for (let attempt = 1; ; attempt++) {
          try {
            if (made.pooled) {
              const facts = { composeCli, document, healthTimeoutMs, progress };
              return await startAdopted(context, made, facts, steps.signal);
            }
            await startStack(context, made, config, composeCli, document, steps.signal);
            return false;
          } catch (error) {
            // Another lease store (a second berth home on this engine) gave away what the engine now holds.
            const conflict = config.apply === 'api' ? engineConflict(messageOf(error)) : undefined;
            if (!conflict) throw error;
            if (attempt >= ENGINE_CONFLICT_TRIES)
              throw conflictPersists(made, conflict, attempt, messageOf(error).split('\n')[0] ?? '', error);
            progress(`${name}: ${conflictHeld(made, conflict)}; taking another`);
            // What this try made goes (a pool member's own services stay: only the agent's container).
            await removeLabelled(
              context.docker,
              made.pooled ? serviceLabels(made, 'agent') : stackLabels(made),
            );
            made = await releaseConflict(context, config, made, conflict);
            agent = made;
            document = await writeFiles(context, made, config, host, configText);
            released = true;
          }
        }
      });
    const addWorktree = () =>
      steps.run('worktree', async () => {
        await addWorktreeWithEnv(context, made, config, target, progress);
        copyServiceMounts(made);
      });
    const startAndWait = async () => {
      prepareProbes(made);
      const answered = await start();
      await steps.run('health', async () => {
        if (!answered) await waitUntilReady(context, made, healthTimeoutMs, steps.signal);
        // Its services answer; every container, the agent's too, must keep running (not exit, nor loop
        // restarting).
        await waitUntilSteady(context, made, { required: ['agent'] }, steps.signal);
      });
    };
    // A service that binds a path of the worktree starts once the worktree holds it.
    if (Object.values(made.services ?? {}).some((service) => service.mounts.length > 0)) {
      await addWorktree();
      await startAndWait();
    } else await steps.parallel(addWorktree, startAndWait);
    // The worktree's env file was written with the ports leased first.
    if (released) writeEnvFiles(made);
    // The agent's secrets for good, and the hooks' own while they run.
    // Submodules are checked out in the agent's container, never by git on the host: their git folders
    // are in the shared git folder, which the agent writes (a filter or ssh command planted there would
    // run on the host). With the container's network and credentials; a failure is said, not fatal.
    submodules = config.worktree.submodules && exists(join(made.worktree, '.gitmodules'));
    await steps.run('submodules', () =>
      submodules ? checkOutSubmodules(context, made, progress, steps.signal) : undefined,
    );
    const { grants } = facts.secrets;
    const hooksOnly = secretsFor(grants, 'hooks').filter((n) => !secretsFor(grants, 'agent').includes(n));
    await steps.run('secrets', () =>
      giveSecrets(context, made, facts.secrets, [...secretsFor(grants, 'agent'), ...hooksOnly]),
    );
    for (const hook of HOOK_STEPS) {
      // A database from the template is seeded; migrations added on the branch since still run.
      await steps.run(hook, async () => {
        await runHooks(context, made, hook, hookCommands(hook), {
          signal: steps.signal,
          timeout: config.hookTimeout,
          secrets: facts.secrets,
        });
        // The hooks' own secrets go once the last of them ran.
        if (hook === 'seed') await takeSecrets(context, made, hooksOnly);
      });
    }
    await steps.run('template', () =>
      buildTemplate(context, made, config.healthTimeout * 1000, steps.signal),
    );
    const ready = await steps.run('record', () => markReady(context, made));
    progress(`${name}: ready`);
    return agentView(ready, freshFacts(ready), {
      showSecrets: options.showSecrets,
      isRunning: context.runtime.isRunning,
    });
  } catch (error) {
    const failure = asStepFailure<ProvisionStep>(error, 'reserve');
    if (!agent) throw describeFailure(name, failure, undefined, false);
    progress(`${name}: failed at ${failure.step}; rolling back`);
    const answered = await engineAnswers(context.docker);
    if (stackStarted && answered) await saveContainerLogs(composeCli, agent).catch(() => {});
    // The kept log says what failed and why, in the engine's or the program's own words, and names the
    // step's log where it is kept (the agent's folder goes with the rollback).
    const now = context.runtime.now();
    const keepIn = context.paths.failedLogs(name, now);
    const logs = context.paths.agentLogs(name);
    recordCause(provisionLog, failure, now, (file) =>
      file.startsWith(`${logs}/`) ? join(keepIn, file.slice(logs.length + 1)) : file,
    );
    const keptLogs = keepLogs(logs, keepIn);
    const { failed } = await steps.rollback();
    for (const undo of failed)
      progress(`${name}: could not remove its ${undo.what}: ${messageOf(undo.error)}`);
    // The engine may go down while the rollback runs: a refused connection then says so too.
    const engineGone =
      !answered || failed.some((undo) => engineLost(undo.error)) || !(await engineAnswers(context.docker));
    // The record goes last, and only when everything it names is gone: else gc finishes the job later.
    if (failed.length === 0) await dropRecord(context, agent);
    else
      await markFailed(
        context,
        agent,
        engineGone ? 'the Docker engine went away' : messageOf(failed[0]?.error),
      );
    throw describeFailure(name, failure, keptLogs, engineGone);
  }
}

/**
 * The compose file: the exact description of the stack, whichever way it is applied, and the copy of
 * the config the agent is made with, which its later hooks (sync, db reset, teardown) read. Behind an
 * egress proxy, the proxy's configuration and the agent's /etc/hosts and resolv.conf too.
 */
async function writeFiles(
  context: RepoContext,
  agent: AgentRecord,
  config: BerthConfig,
  host: HostFacts,
  configText: string,
) {
  ensureDir(join(agent.stateDir, 'logs'), 0o700);
  if (agent.configFile) writeFile(agent.configFile, configText, 0o600);
  if (host.packageCache) {
    ensureOwnedDir(host.packageCache, agent.user.uid, agent.user.gid);
    // The folder is the agents' to write: the rc file is written without following a link put there.
    writeConfined(host.packageCache, [YARNRC_NAME], Buffer.from(YARN1_RC), undefined, 0o644);
  }
  if (agent.egress) await writeEgressFiles(context, agent, config);
  const document = agentDocument(context, agent, config, host);
  writeFile(agent.composeFile, renderCompose(document), 0o600);
  return document;
}

async function addWorktreeWithEnv(
  context: RepoContext,
  agent: AgentRecord,
  config: BerthConfig,
  target: BranchTarget,
  progress: (message: string) => void,
) {
  await withGitLock(context.berthDir, async () => {
    await addWorktree(
      context.root,
      agent.worktree,
      agent.branch,
      target.created ? target.startCommit : undefined,
    );
    await lockWorktree(context.root, agent.worktree, worktreeLockReason(agent.name, agent.instance));
    const included = await copyWorktreeIncludes(context.root, agent.worktree);
    if (included > 0) progress(`${agent.name}: copied ${included} file(s) named in ${WORKTREE_INCLUDE}`);
    excludeFromGit(context.commonGitDir, config.envFile);
  });
  writeEnvFiles(agent);
}

/**
 * The env file in the worktree holds the container's view (services by name): the agent's code runs in
 * the container, and a dotenv loader that overrides must get addresses that answer there. The host's view
 * (127.0.0.1 and leased ports) goes beside the compose file, for tools on the host.
 */
export function writeEnvFiles(agent: AgentRecord): void {
  const header = (view: string) => `berth agent ${agent.name}: ${view}; generated, not committed`;
  // In the worktree, which holds the branch's files: never through a link a branch put there.
  const text = renderEnvFile(agentEnv(agent, 'container'), header('the container`s view'));
  try {
    writeConfined(
      agent.worktree,
      relative(agent.worktree, agent.envFile).split(sep),
      Buffer.from(text),
      undefined,
      0o600,
    );
  } catch (error) {
    if (!(error instanceof ConfinedPathError)) throw error;
    throw new UsageError(
      'env-file-refused',
      `${agent.envFile} is not a plain file in the worktree (${error.refusal}): berth writes no file through a link`,
      {
        hint: `remove it from the branch (git rm --cached ${relative(agent.worktree, agent.envFile)}), then provision again`,
      },
    );
  }
  writeFile(hostEnvFileOf(agent), renderEnvFile(agentEnv(agent, 'host'), header('the host`s view')), 0o600);
}

/**
 * An adopted member's networks, Postgres and Redis run already: only the agent's container is made, while
 * its Postgres and Redis are probed. A member that is not whole (stopped or removed since it was seen
 * running) is not fatal: its remains go and the whole stack is made anew on its leases, as a cold
 * provision would. Returns whether the warm stack answered (then no separate wait is needed).
 */
async function startAdopted(
  context: RepoContext,
  agent: AgentRecord,
  facts: {
    composeCli: ComposeCli;
    document: Record<string, unknown>;
    healthTimeoutMs: number;
    progress: (message: string) => void;
  },
  signal: AbortSignal,
): Promise<boolean> {
  const stack = engineStackOf(facts.document, agent, facts.composeCli);
  const agentOnly = {
    networks: [],
    volumes: [],
    containers: stack.containers.filter((c) => c.service === 'agent'),
  };
  const stop = new AbortController();
  const stopOnFailure = (error: unknown) => {
    stop.abort();
    throw error;
  };
  const warm = await Promise.allSettled([
    applyStack(context.docker, agentOnly).catch(stopOnFailure),
    // Its services answer, and keep running: one that crash-loops makes the stack anew.
    waitUntilReady(context, agent, facts.healthTimeoutMs, AbortSignal.any([signal, stop.signal]))
      .then(() =>
        waitUntilSteady(
          context,
          agent,
          { only: (service) => service !== 'agent' },
          AbortSignal.any([signal, stop.signal]),
        ),
      )
      .catch(stopOnFailure),
  ]);
  const failure = warm.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failure) return true;
  // An app port another lease store gave away is the caller's to lease again, with the member kept.
  if (signal.aborted || engineConflict(messageOf(failure.reason))) throw failure.reason;
  facts.progress(
    `${agent.name}: its warm environment ${agent.pooled} is not whole (${messageOf(failure.reason).split('\n')[0]}); making its stack anew`,
  );
  await removeLabelled(context.docker, stackLabels(agent));
  await applyStack(context.docker, stack);
  return false;
}

/**
 * A service's bind mounts come from the agent's worktree, which its branch decides: each must be there,
 * and resolve (symlinks followed) inside the worktree, never to another path of the host. Each is then
 * copied (links inside it kept as links, which resolve in the service's own container) to berth's
 * folder, which the service mounts: see serviceMountCopy. Done before the agent's container runs.
 */
function copyServiceMounts(agent: AgentRecord): void {
  const root = realPath(agent.worktree);
  for (const [service, spec] of Object.entries(agent.services ?? {})) {
    for (const [index, mount] of spec.mounts.entries()) {
      const source = join(agent.worktree, mount.source);
      const key = `services.${service}.mounts: ${mount.source}`;
      if (!exists(source))
        throw new UsageError('service-mount-missing', `${key} is not in the agent's worktree`, {
          hint: 'commit the path on the branch the agent starts from, or remove the mount',
        });
      const real = realPath(source);
      if (real !== root && !real.startsWith(`${root}/`))
        throw new UsageError('service-mount-outside', `${key} leads outside the worktree (to ${real})`, {
          hint: 'a service binds paths inside the repository only; replace the symlink with the files',
        });
      copyTreeKeepingLinks(real, serviceMountCopy(agent.stateDir, service, index));
    }
  }
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
    await applyStack(context.docker, engineStackOf(document, agent, composeCli));
    return;
  }
  const logFile = namedLog(join(agent.stateDir, 'logs'), 'provision');
  const up = await compose(composeCli, agent.composeProject, agent.composeFile, ['up', '-d'], {
    logFile,
    signal,
  });
  if (up.exitCode !== 0)
    throw new BerthError('compose-up-failed', `compose up exited with ${up.exitCode}`, { logFile });
}

async function markReady(context: RepoContext, agent: AgentRecord): Promise<AgentRecord> {
  // A task outcome of an earlier agent with this name is history, not this agent's.
  removeTree(context.paths.outcomeFile(agent.name));
  const { runtime } = context;
  return updateState(context.berthDir, (state) => {
    const record = state.agents[agent.name];
    if (!record)
      throw new BerthError('record-lost', `the record of ${agent.name} disappeared while it was provisioned`);
    record.status = 'ready';
    record.owner = undefined;
    record.expiry = expiryFrom(record.expiry.ttlSeconds, runtime.now());
    return structuredClone(record);
  });
}

/** A provision whose rollback could not finish: its record stays (with its leases), for gc. */
async function markFailed(context: RepoContext, agent: AgentRecord, failure: string) {
  await updateState(context.berthDir, (state) => {
    const record = state.agents[agent.name];
    if (!record || record.instance !== agent.instance) return;
    record.status = 'failed';
    record.failure = failure;
    record.owner = undefined;
  });
}

/** Rollback of the worktree step: the worktree, and the branch if this provision made it. */
async function undoWorktree(context: RepoContext, agent: AgentRecord): Promise<void> {
  await dropWorktree(context, agent.worktree);
  // Only the branch this provision made: one someone made meanwhile under the name (its worktree add
  // then failed) may have moved on, and is not berth's to delete.
  if (
    agent.createdBranch &&
    (await resolveCommit(context.root, `refs/heads/${agent.branch}`)) === agent.baseCommit
  ) {
    await deleteBranch(context.root, agent.branch);
  }
}

/** The containers are about to go: keep what they said. */
async function saveContainerLogs(cli: ComposeCli, agent: AgentRecord) {
  if (!exists(agent.composeFile)) return;
  const logFile = namedLog(join(agent.stateDir, 'logs'), 'containers');
  await compose(cli, agent.composeProject, agent.composeFile, ['logs', '--no-color'], { logFile });
}

/**
 * Appends why the provision failed to its log: the step, the whole message (every line: an engine's
 * reason, a hook's last lines), the hint, and the log the step kept.
 */
function recordCause(
  log: string,
  failure: StepFailure<ProvisionStep>,
  now: number,
  keptAs: (file: string) => string,
): void {
  if (!exists(dirname(log))) return;
  const cause = failure.cause;
  const berth = cause instanceof BerthError ? cause : undefined;
  const lines = [
    `${new Date(now).toISOString()} failed at step "${failure.step}": ${messageOf(cause)}`,
    ...(berth?.details ?? []).map((detail) => `  ${detail}`),
    ...(berth?.hint ? [`  hint: ${berth.hint}`] : []),
    ...(berth?.logFile ? [`  log: ${keptAs(berth.logFile)}`] : []),
    ...(cause instanceof Error && cause.cause ? [`  cause: ${messageOf(cause.cause)}`] : []),
  ];
  appendFile(log, `${lines.join('\n')}\n`);
}

/** A rolled-back provision leaves its logs (nothing else) in berth's folder, for the error to point at. */
function keepLogs(logs: string, kept: string): string | undefined {
  if (!exists(logs)) return undefined;
  try {
    copyTree(logs, kept);
    return kept;
  } catch {
    return undefined; // only a copy for the error to point at: the rollback matters more
  }
}

function describeFailure(
  name: string,
  failure: StepFailure<ProvisionStep>,
  keptLogs: string | undefined,
  engineGone: boolean,
): BerthError {
  const error = failure.cause;
  if (error instanceof UsageError) return error;
  const cause = messageOf(error).split('\n')[0];
  const where = `provisioning ${name} failed at step "${failure.step}"`;
  if (engineGone) {
    return new EnvironmentError('engine-gone', `${where}: the Docker engine went away (${cause})`, {
      hint: 'start it again (berth host init), then run berth gc: it removes what this provision left',
      cause: error,
    });
  }
  const berth = error instanceof BerthError ? error : undefined;
  // The step's own log when it has one (a hook's), else the provision's, which names the cause.
  const stepLog = berth?.logFile && keptLogs ? join(keptLogs, basename(berth.logFile)) : undefined;
  const logFile =
    stepLog && exists(stepLog) ? stepLog : keptLogs ? namedLog(keptLogs, 'provision') : undefined;
  return new BerthError(berth?.code ?? 'provision-failed', `${where}: ${cause}`, {
    hint: berth?.hint ?? 'everything it made was removed; fix the cause and run it again',
    exitCode: berth?.exitCode,
    logFile,
    details: berth?.details,
    cause: error,
  });
}
