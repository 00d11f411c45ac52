import { join } from 'node:path';
import { applyStack, listContainers, removeLabelled } from '../../adapters/docker.js';
import { ensureDir, removeTree, writeFile } from '../../adapters/files.js';
import { resolveCommit } from '../../adapters/git.js';
import { startDetached } from '../../adapters/run.js';
import type { BerthConfig } from '../../config/schema.js';
import { messageOf } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import type { AgentRecord } from '../../plan/agent.js';
import { planCompose, renderCompose } from '../../plan/compose.js';
import { engineStackOf } from '../../plan/engine-stack.js';
import { extraLabels, LABELS, repoLabels } from '../../plan/names.js';
import { type PoolMember, planFill, poolKey, poolMemberName, readyMembers } from '../../plan/pool.js';
import { updateLeases } from '../../state/leases.js';
import { readState, tryLock, updateState } from '../../state/store.js';
import { knownCompose, loadRepoConfig, openRepo, type RepoContext, type RepoOptions } from '../context.js';
import { waitUntilReady } from './readiness.js';
import { engineTaken, leaseResources } from './reserve.js';
import { hostFacts, resolveStackImages } from './stack-facts.js';
import { templateFor } from './template.js';

/** The pool's key for agents starting from `startCommit` now; undefined while its template is not built. */
export async function currentPoolKey(
  context: RepoContext,
  config: BerthConfig,
  startCommit: string,
  stack: Awaited<ReturnType<typeof resolveStackImages>>,
): Promise<{ key: string; images: AgentRecord['images']; postgres: AgentRecord['postgres'] } | undefined> {
  const template = await templateFor(context, config, startCommit, stack);
  if (template && !template.exists) return undefined;
  const images = template ? { ...stack.images, postgres: template.image } : stack.images;
  const postgres: AgentRecord['postgres'] = {
    user: config.postgres.user,
    database: config.postgres.database,
    storage: config.postgres.storage,
    preinitialised: stack.postgresPreinitialised,
    baseImage: stack.images.postgres,
    ...(template && { template: { image: template.image, key: template.key, built: false } }),
  };
  return { key: poolKey({ repoId: context.repoId, images, postgres, config }), images, postgres };
}

/** Takes a ready member of `key` for a provision: under the state lock, so no member goes to two. */
export async function claimPoolMember(context: RepoContext, key: string): Promise<PoolMember | undefined> {
  for (;;) {
    const member = await updateState(context.berthDir, (state) => {
      const first = readyMembers(state.pool ?? {}, key)[0];
      if (first) delete state.pool?.[first.id];
      return first;
    });
    if (!member || (await stackRunning(context, member))) return member;
    // Its stack stopped since it was made (an engine restart): it goes, and the next is tried.
    await removeMember(context, member).catch(() => {});
  }
}

async function stackRunning(context: RepoContext, member: PoolMember): Promise<boolean> {
  const containers = await listContainers(context.docker, {
    ...repoLabels(context.repoId),
    [LABELS.agent]: member.id,
  });
  const wanted = member.redisEnabled ? 2 : 1;
  return containers.filter((c) => c.state === 'running').length === wanted;
}

export interface PoolFillResult {
  made: string[];
  removed: string[];
  failed: string[];
  ready: number;
}

/**
 * Brings the pool of the repository's current base to `pool.size`, one member at a time (the bounded
 * rate: a refill never starts many stacks at once beside the agents working), after removing members
 * of an older base. One fill at a time per repository; a second returns at once.
 */
export async function fillPool(
  options: RepoOptions & { configPath?: string; progress?: (m: string) => void },
) {
  const context = await openRepo(options);
  const config = loadRepoConfig(context, options.configPath);
  const progress = options.progress ?? (() => {});
  const result: PoolFillResult = { made: [], removed: [], failed: [], ready: 0 };
  const release = await tryLock(context.berthDir, 'pool-fill');
  if (!release) return result;
  try {
    const start = await resolveCommit(context.here, config.worktree.baseRef);
    const stack = await resolveStackImages(context.docker, config);
    const current = start && (await currentPoolKey(context, config, start, stack));
    const members = readState(context.berthDir).pool ?? {};
    const { stale, toMake } = current
      ? planFill(members, current.key, config.pool.size)
      : { stale: Object.values(members).filter((m) => m.status === 'ready'), toMake: 0 };
    for (const member of stale) {
      await removeMember(context, member);
      result.removed.push(member.id);
    }
    for (let i = 0; current && i < toMake; i++) {
      try {
        const member = await makeMember(context, config, current, progress);
        result.made.push(member.id);
      } catch (error) {
        progress(`pool: a member could not be made: ${messageOf(error)}`);
        result.failed.push(messageOf(error));
        break;
      }
    }
    result.ready = current ? readyMembers(readState(context.berthDir).pool ?? {}, current.key).length : 0;
    return result;
  } finally {
    await release();
  }
}

/** Removes every member of the pool (their stacks and leases). */
export async function drainPool(options: RepoOptions): Promise<string[]> {
  const context = await openRepo(options);
  const members = Object.values(readState(context.berthDir).pool ?? {});
  for (const member of members) await removeMember(context, member);
  return members.map((m) => m.id);
}

export async function poolMembers(options: RepoOptions): Promise<PoolMember[]> {
  const context = await openRepo(options, { engine: false });
  return Object.values(readState(context.berthDir).pool ?? {}).sort((a, b) =>
    a.createdAt.localeCompare(b.createdAt),
  );
}

/** Starts `berth pool fill` for the repository in the background, detached: the provision does not wait. */
export function refillInBackground(context: RepoContext, config: BerthConfig, configPath?: string): void {
  if (config.pool.size === 0 || context.runtime.env.BERTH_POOL_REFILL === '0') return;
  const bin = join(packageRoot(), 'dist', 'berth.mjs');
  const args = [bin, 'pool', 'fill', '--repo', context.root, ...(configPath ? ['--config', configPath] : [])];
  startDetached(process.execPath, args, context.runtime.env);
}

/** The record-shaped description of a member, for the compose plan and the readiness probe. */
function memberAsAgent(context: RepoContext, member: PoolMember): AgentRecord {
  return {
    name: member.id,
    repoId: context.repoId,
    branch: '',
    createdBranch: false,
    baseRef: '',
    baseCommit: '',
    worktree: '/nonexistent',
    composeProject: member.composeProject,
    labels: member.labels,
    composeFile: member.composeFile,
    envFile: '/nonexistent',
    stateDir: join(context.berthDir, 'pool', member.id),
    ports: member.ports,
    subnet: member.subnet,
    ...(member.publishSubnet && { publishSubnet: member.publishSubnet }),
    passwords: member.passwords,
    user: { uid: 0, gid: 0 },
    images: member.images,
    postgres: member.postgres,
    redisEnabled: member.redisEnabled,
    appPorts: {},
    status: 'provisioning',
    instance: member.instance,
    createdAt: member.createdAt,
    lease: { ttlSeconds: 0, expiresAt: member.createdAt },
  };
}

async function makeMember(
  context: RepoContext,
  config: BerthConfig,
  current: NonNullable<Awaited<ReturnType<typeof currentPoolKey>>>,
  progress: (message: string) => void,
): Promise<PoolMember> {
  const { runtime } = context;
  const id = poolMemberName(runtime.randomBytes(5));
  const instance = runtime.randomBytes(6).toString('hex');
  const labels = {
    ...extraLabels(runtime.env.BERTH_LABELS),
    ...repoLabels(context.repoId),
    [LABELS.agent]: id,
    [LABELS.instance]: instance,
  };
  const dir = join(context.berthDir, 'pool', id);
  const taken = await engineTaken(context);
  const member = await updateState(context.berthDir, async (state) => {
    const leased = await leaseResources({ context, config, state, holder: { agent: id, instance }, taken }, [
      'postgres',
      ...(config.redis.enabled ? ['redis'] : []),
    ]);
    const made: PoolMember = {
      id,
      key: current.key,
      status: 'making',
      owner: runtime.self(),
      createdAt: new Date(runtime.now()).toISOString(),
      composeProject: `berth-${context.repoId}-${id}`,
      composeFile: join(dir, 'compose.yaml'),
      labels,
      instance,
      ...leased,
      passwords: {
        postgres: runtime.randomBytes(18).toString('base64url'),
        redis: runtime.randomBytes(18).toString('base64url'),
      },
      images: current.images,
      postgres: current.postgres,
      redisEnabled: config.redis.enabled,
    };
    state.pool = { ...state.pool, [id]: made };
    return made;
  });
  progress(`pool: making ${id}`);
  try {
    const asAgent = memberAsAgent(context, member);
    const document = planCompose(asAgent, config, await hostFacts(context, config)) as {
      services: Record<string, unknown>;
    };
    delete document.services.agent;
    ensureDir(dir, 0o700);
    writeFile(member.composeFile, renderCompose(document), 0o600);
    const cli = await knownCompose(runtime.env);
    await applyStack(context.docker, engineStackOf(document, member, cli));
    if (runtime.env.BERTH_TEST_CRASH_POOL === '1') process.kill(process.pid, 'SIGKILL');
    await waitUntilReady(context, asAgent, config.healthTimeout * 1000);
    await updateState(context.berthDir, (state) => {
      const fresh = state.pool?.[id];
      if (!fresh) return;
      fresh.status = 'ready';
      fresh.owner = undefined;
    });
    return member;
  } catch (error) {
    await removeMember(context, member).catch(() => {});
    throw error;
  }
}

/** Removes a member's stack, record, folder and leases. */
export async function removeMember(context: RepoContext, member: PoolMember): Promise<void> {
  await removeLabelled(context.docker, { ...repoLabels(context.repoId), [LABELS.agent]: member.id });
  await updateState(context.berthDir, (state) => {
    if (state.pool?.[member.id]?.instance === member.instance) delete state.pool[member.id];
  });
  removeTree(join(context.berthDir, 'pool', member.id));
  await updateLeases((leases) => {
    for (const table of [leases.ports, leases.subnets])
      for (const [key, lease] of Object.entries(table))
        if (lease.agent === member.id && lease.instance === member.instance) delete table[key];
  }, context.runtime.env);
}
