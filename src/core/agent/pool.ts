import { join } from 'node:path';
import { applyStack, type LabelledContainer, listContainers, removeLabelled } from '../../adapters/docker.js';
import { ensureDir, removeTree, writeFile } from '../../adapters/files.js';
import { resolveCommit } from '../../adapters/git.js';
import { startDetached } from '../../adapters/programs.js';
import type { BerthConfig } from '../../config/schema.js';
import { BerthError, messageOf } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import { type AgentRecord, leasedPortNames, newPasswords, planDatabase } from '../../plan/agent.js';
import {
  conflictHeld,
  conflictPersists,
  ENGINE_CONFLICT_TRIES,
  engineConflict,
} from '../../plan/allocate.js';
import { planStackCompose, renderCompose } from '../../plan/compose.js';
import { engineStackOf } from '../../plan/engine-stack.js';
import {
  composeProject,
  extraLabels,
  instanceId,
  LABELS,
  newStackLabels,
  repoLabels,
  stackSelector,
} from '../../plan/names.js';
import {
  memberServices,
  membersToMake,
  type PoolMember,
  poolKey,
  poolMemberName,
  readyMembers,
  removalReason,
} from '../../plan/pool.js';
import { randomKeys, type ServiceRecord, serviceLeaseNames } from '../../plan/services.js';
import { leasesDir, releaseLeases, updateLeasesIn } from '../../state/leases.js';
import { readState, tryLock, updateState, withLock } from '../../state/store.js';
import { knownCompose, loadRepoConfig, openRepo, type RepoContext, type RepoOptions } from '../context.js';
import { prepareProbes, waitUntilReady, waitUntilSteady } from './readiness.js';
import { engineTaken, leaseResources, releaseMemberConflict } from './reserve.js';
import { resolveServiceImages, resolveStackImages } from './stack-facts.js';
import { templateFor } from './template.js';
import { crashForTest, holdForTest } from './test-points.js';

/** Fill and drain of one repository's pool run one at a time: a drain waits for a fill to finish. */
const POOL_LOCK = 'pool';

/** The pool's key for agents starting from `startCommit` now; undefined while its template is not built. */
export async function currentPoolKey(
  context: RepoContext,
  config: BerthConfig,
  startCommit: string,
  stack: Awaited<ReturnType<typeof resolveStackImages>> & { services: Record<string, ServiceRecord> },
): Promise<
  | ({ key: string; services: Record<string, ServiceRecord> } & Pick<AgentRecord, 'images' | 'postgres'>)
  | undefined
> {
  const template = await templateFor(context, config, startCommit, stack);
  if (template && !template.exists) return undefined;
  const database = planDatabase({
    postgres: config.postgres,
    images: stack.images,
    preinitialised: stack.postgresPreinitialised,
    template: template && { image: template.image, key: template.key, built: false },
  });
  const { services } = stack;
  return { key: poolKey({ repoId: context.repoId, ...database, config, services }), ...database, services };
}

/**
 * What a provision may adopt: the members of its key whose stacks run now. Which one it takes is decided
 * under the state lock when it reserves (`pickMember`), in the same write that records the agent: no
 * instant passes with a member taken from the pool and not yet the agent's.
 */
export interface PoolOffer {
  key: string;
  running: ReadonlySet<string>;
}

/**
 * The offer for a provision: ready members of `key` whose Postgres (and Redis) run. Members whose stack
 * stopped since they were made (an engine restart) are removed here, and passed over.
 */
export async function poolOffer(context: RepoContext, key: string): Promise<PoolOffer | undefined> {
  // Its leases must be in this process's store, where the agent's record says they are.
  const store = leasesDir(context.runtime.env);
  const members = readyMembers(readState(context.berthDir).pool ?? {}, key).filter(
    (m) => (m.leasesDir ?? store) === store,
  );
  if (members.length === 0) return undefined;
  const containers = await listContainers(context.docker, repoLabels(context.repoId));
  const running = new Set(members.filter((m) => stackRunning(m, containers)).map((m) => m.id));
  const stopped = members.filter((m) => !running.has(m.id));
  if (stopped.length > 0) {
    const seen = (m: PoolMember) => stopped.some((s) => s.id === m.id && s.instance === m.instance);
    await removeMembers(context, (m) =>
      seen(m) ? removalReason(m, { kind: 'stopped' }, context.runtime) : undefined,
    ).catch(() => {}); // what could not go stays claimed by this process, for gc once it ends
  }
  return running.size > 0 ? { key, running } : undefined;
}

function stackRunning(member: PoolMember, containers: LabelledContainer[]): boolean {
  const wanted = memberServices(member);
  const own = containers.filter(
    (c) =>
      c.labels[LABELS.agent] === member.id &&
      c.labels[LABELS.instance] === member.instance &&
      c.state === 'running',
  );
  return wanted.every((service) => own.some((c) => c.service === service));
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
 * of an older base. One fill at a time per repository, and none while a drain runs: a second returns
 * at once.
 */
export async function fillPool(
  options: RepoOptions & { configPath?: string; progress?: (m: string) => void },
) {
  const context = await openRepo(options);
  const config = loadRepoConfig(context, options.configPath);
  const progress = options.progress ?? (() => {});
  const result: PoolFillResult = { made: [], removed: [], failed: [], ready: 0 };
  const release = await tryLock(context.berthDir, POOL_LOCK);
  if (!release) return result;
  try {
    const start = await resolveCommit(context.here, config.worktree.baseRef);
    const [images, services] = await Promise.all([
      resolveStackImages(context.docker, config, context.paths.pullLog),
      // A stand-in (MariaDB, memcached) missing on this host is built here, as a provision would.
      resolveServiceImages(context, config, progress),
    ]);
    const current = start ? await currentPoolKey(context, config, start, { ...images, services }) : undefined;
    const stale = await removeMembers(context, (m) =>
      removalReason(m, { kind: 'stale', key: current?.key }, context.runtime),
    );
    result.removed.push(...stale.removed.map((r) => r.id));
    for (const failure of stale.failed) progress(`pool: ${failure}`);
    const toMake = membersToMake(readState(context.berthDir).pool ?? {}, current?.key, config.pool.size);
    for (let i = 0; current && i < toMake; i++) {
      try {
        result.made.push(await makeMember(context, config, current, progress));
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

/**
 * Removes every member nobody else owns: ready ones, and those whose maker or remover is gone. Members
 * already adopted are agents, and stay. It waits for a fill that runs to finish first.
 */
export async function drainPool(options: RepoOptions): Promise<string[]> {
  const context = await openRepo(options);
  return withLock(context.berthDir, POOL_LOCK, async () => {
    const { removed, failed } = await removeMembers(context, (m) =>
      removalReason(m, { kind: 'drain' }, context.runtime),
    );
    if (failed.length > 0) {
      throw new BerthError(
        'pool-drain-incomplete',
        `removed ${removed.length} of the pool; ${failed.join('; ')}`,
        { hint: 'run berth pool drain again (or berth gc): what is left stays claimed until then' },
      );
    }
    return removed.map((r) => r.id);
  });
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

async function makeMember(
  context: RepoContext,
  config: BerthConfig,
  current: NonNullable<Awaited<ReturnType<typeof currentPoolKey>>>,
  progress: (message: string) => void,
): Promise<string> {
  const { runtime } = context;
  const id = poolMemberName(runtime.randomBytes(5));
  const instance = instanceId(runtime.randomBytes(6));
  const labels = newStackLabels(extraLabels(runtime.env.BERTH_LABELS), context.repoId, id, instance);
  const taken = await engineTaken(context);
  // Recorded (and its leases taken) before anything is made, owned by this process until it is ready.
  const member = await updateState(context.berthDir, async (state) => {
    const leased = await leaseResources(
      { context, config, state, holder: { agent: id, instance }, taken },
      leasedPortNames(
        { postgres: true, redis: config.redis.enabled, others: serviceLeaseNames(current.services) },
        {},
      ),
    );
    const made: PoolMember = {
      id,
      key: current.key,
      status: 'making',
      owner: runtime.self(),
      createdAt: new Date(runtime.now()).toISOString(),
      composeProject: composeProject(context.repoId, id),
      composeFile: context.paths.poolComposeFile(id),
      labels,
      instance,
      ...leased,
      leasesDir: leasesDir(runtime.env),
      // The random values of its services too, drawn as a provision draws them.
      passwords: newPasswords(runtime.randomBytes, randomKeys(current.services)),
      images: current.images,
      postgres: current.postgres,
      redisEnabled: config.redis.enabled,
      ...(Object.keys(current.services).length > 0 && { services: current.services }),
    };
    state.pool = { ...state.pool, [id]: made };
    return made;
  });
  progress(`pool: making ${id}`);
  let made = member;
  try {
    ensureDir(context.paths.poolDir(id), 0o700);
    const cli = await knownCompose(runtime.env);
    await holdForTest(runtime.env, 'pool-leased');
    for (let attempt = 1; ; attempt++) {
      const document = planStackCompose(made, config);
      writeFile(made.composeFile, renderCompose(document), 0o600);
      try {
        prepareProbes(made);
        await applyStack(context.docker, engineStackOf(document, made, cli));
        break;
      } catch (error) {
        // Another lease store (a second berth home on this engine) gave away what the engine now holds.
        const conflict = engineConflict(messageOf(error));
        if (!conflict) throw error;
        const said = messageOf(error).split('\n')[0] ?? '';
        if (attempt >= ENGINE_CONFLICT_TRIES) throw conflictPersists(made, conflict, attempt, said, error);
        progress(`pool: ${conflictHeld(made, conflict)}; taking another for ${id}`);
        await removeLabelled(context.docker, memberLabels(context, made));
        made = await releaseMemberConflict(context, config, made, conflict);
      }
    }
    crashForTest(runtime.env, 'pool-stack');
    await waitUntilReady(context, made, config.healthTimeout * 1000);
    await waitUntilSteady(context, made, {});
    const ready = await updateState(context.berthDir, (state) => {
      const fresh = state.pool?.[id];
      if (fresh?.instance !== instance || fresh.status !== 'making') return false;
      fresh.status = 'ready';
      fresh.owner = undefined;
      return true;
    });
    if (!ready) throw new BerthError('pool-member-taken', `${id} was taken for removal while it was made`);
    return id;
  } catch (error) {
    // Undone only while it is still this fill's: whoever took it over removes it.
    await removeMembers(context, (m) =>
      m.id === id && m.instance === instance && m.status === 'making' ? 'its making failed' : undefined,
    ).catch(() => {});
    throw error;
  }
}

/**
 * Removes the members `decide` gives a reason for: each is marked as being removed by this process on a
 * fresh read under the state lock (so no provision adopts it and no other remover takes it), then its
 * stack and folder go, then its record (so a crash part-way leaves a record that gc finishes), and its
 * leases last. A member that cannot be removed is said in `failed`, in one line each.
 */
export async function removeMembers(
  context: RepoContext,
  decide: (member: PoolMember) => string | undefined,
): Promise<{ removed: Array<{ id: string; reason: string }>; failed: string[] }> {
  const { runtime } = context;
  const claimed = await updateState(context.berthDir, (state) => {
    const taken: PoolMember[] = [];
    for (const member of Object.values(state.pool ?? {})) {
      const reason = decide(member);
      if (!reason) continue;
      member.status = 'removing';
      member.owner = runtime.self();
      member.removal = reason;
      taken.push(structuredClone(member));
    }
    return taken;
  });
  const removed: Array<{ id: string; reason: string }> = [];
  const failed: string[] = [];
  for (const member of claimed) {
    try {
      await removeClaimed(context, member);
      removed.push({ id: member.id, reason: member.removal ?? '' });
    } catch (error) {
      failed.push(`could not remove ${member.id}: ${messageOf(error).split('\n')[0]}`);
    }
  }
  return { removed, failed };
}

/** The labels that find what a member is made of (of this making, not an earlier one of its id). */
function memberLabels(context: RepoContext, member: PoolMember): Record<string, string> {
  return { ...stackSelector(context.repoId, member.labels), [LABELS.instance]: member.instance };
}

async function removeClaimed(context: RepoContext, member: PoolMember): Promise<void> {
  await removeLabelled(context.docker, memberLabels(context, member));
  removeTree(context.paths.poolDir(member.id));
  await updateState(context.berthDir, (state) => {
    if (state.pool?.[member.id]?.instance === member.instance) delete state.pool[member.id];
  });
  // Released after the record is gone, as an agent's are (dropRecord).
  const holder = { repoId: context.repoId, agent: member.id, instance: member.instance };
  const store = member.leasesDir ?? leasesDir(context.runtime.env);
  await updateLeasesIn(store, (leases) => releaseLeases(leases, holder));
}
