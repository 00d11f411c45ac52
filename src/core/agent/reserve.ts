import { join } from 'node:path';
import { publishedPorts, subnetsInUse } from '../../adapters/docker.js';
import { exists, ownerOf } from '../../adapters/files.js';
import {
  currentBranch,
  isLocalBranch,
  isValidBranchName,
  listWorktrees,
  resolveCommit,
} from '../../adapters/git.js';
import { hostRoutes } from '../../adapters/host-net.js';
import { freePorts } from '../../adapters/ports.js';
import type { BerthConfig } from '../../config/schema.js';
import { BerthError, UsageError } from '../../errors.js';
import {
  type AgentRecord,
  leasedPortNames,
  newPasswords,
  planAgentRecord,
  planDatabase,
} from '../../plan/agent.js';
import { type EngineConflict, parsePortRange, pickSubnet } from '../../plan/allocate.js';
import { parseDuration } from '../../plan/duration.js';
import {
  branchName,
  composeProject,
  extraLabels,
  instanceId,
  LABELS,
  newStackLabels,
  stackOwner,
  worktreePath,
} from '../../plan/names.js';
import { type PoolMember, pickMember } from '../../plan/pool.js';
import { grantsOf } from '../../plan/secrets.js';
import { randomKeys, type ServiceRecord, serviceLeaseNames } from '../../plan/services.js';
import { leasesDir, updateLeases } from '../../state/leases.js';
import { type State, updateState } from '../../state/store.js';
import type { RepoContext } from '../context.js';
import type { PoolOffer } from './pool.js';

export interface BranchTarget {
  branch: string;
  created: boolean;
  startCommit: string;
  baseRef: string;
  worktree: string;
}

/** Checks everything about the branch and folder before anything is made. */
export async function resolveBranchTarget(
  context: RepoContext,
  name: string,
  config: BerthConfig,
  options: { from?: string; branch?: string },
): Promise<BranchTarget> {
  const from = options.from ?? config.worktree.baseRef;
  const branch = options.branch ?? branchName(config.worktree.branchPrefix, name);
  // The questions are asked of git at once (each is a process); the answers are judged in order.
  // HEAD is the working tree's own: from a linked worktree, the agent starts from that worktree's HEAD.
  const [startCommit, headBranch, validBranch, branchExists] = await Promise.all([
    resolveCommit(context.here, from),
    from === 'HEAD' ? currentBranch(context.here) : undefined,
    isValidBranchName(context.root, branch),
    isLocalBranch(context.root, branch),
  ]);
  if (!startCommit) {
    throw new UsageError('bad-ref', `"${from}" does not name a commit in ${context.root}`, {
      hint: 'pass --from with a branch, tag or commit that exists (git log --oneline)',
    });
  }
  const baseRef = from === 'HEAD' ? (headBranch ?? startCommit) : from;
  if (!validBranch) {
    throw new UsageError('bad-branch', `"${branch}" is not a valid branch name`, {
      hint: 'see `git check-ref-format --help`; use letters, digits, "/", "-" and "."',
    });
  }
  if (branchExists && !options.branch) {
    throw new UsageError('branch-exists', `branch ${branch} already exists`, {
      hint: `continue on it with --branch ${branch}, or delete it (git branch -d ${branch})`,
    });
  }
  if (branchExists) {
    const checkedOut = (await listWorktrees(context.root)).find((entry) => entry.branch === branch);
    if (checkedOut) {
      throw new UsageError('branch-checked-out', `branch ${branch} is checked out at ${checkedOut.path}`, {
        hint: 'a branch can be checked out in one worktree only; pick another branch',
      });
    }
  }
  const worktree = worktreePath(context.root, name, config.worktree.folder);
  if (exists(worktree)) {
    throw new UsageError('worktree-exists', `${worktree} already exists`, {
      hint: 'remove that folder, or set worktree.folder in berth.yaml',
    });
  }
  return { branch, created: !branchExists, startCommit, baseRef, worktree };
}

/** Who holds a lease: the agent label and instance its resources carry. */
export interface LeaseHolder {
  agent: string;
  instance: string;
}

/** What the engine has taken already: ports published and subnets of networks, by anyone. */
export interface EngineTaken {
  ports: Set<number>;
  subnets: string[];
}

export async function engineTaken(context: RepoContext): Promise<EngineTaken> {
  const [ports, subnets] = await Promise.all([publishedPorts(context.docker), subnetsInUse(context.docker)]);
  return { ports, subnets };
}

/** What a lease is asked with: the repository, its state (under its lock), who holds it, what is taken. */
export interface LeaseRequest {
  context: RepoContext;
  config: BerthConfig;
  state: State;
  holder: LeaseHolder;
  taken: EngineTaken;
}

/**
 * Leases host ports (by name), a subnet and (without outbound access) a second one from the host-wide
 * store. Call it under the repository's state lock: records from before host-wide leases hold ports the
 * store does not know, and they are counted too.
 */
export async function leaseResources(
  request: LeaseRequest,
  portNames: string[],
): Promise<{ ports: Record<string, number>; subnet: string; publishSubnet?: string }> {
  const leased = await leaseFromStore(request, portNames, true);
  return { ...leased, subnet: leased.subnet ?? '' };
}

/**
 * Takes another lease for what the engine turned down (a subnet or port another lease store gave away
 * since): the new one is leased first (the old one still counts as taken), then the record points at
 * it and the old lease goes, all under the state lock and then the lease lock. Returns the new record.
 */
export function releaseConflict(
  context: RepoContext,
  config: BerthConfig,
  agent: AgentRecord,
  conflict: EngineConflict,
): Promise<AgentRecord> {
  return takeAnother(context, config, conflict, agent.name, (state) => {
    const record = state.agents[agent.name];
    return record && record.instance === agent.instance ? { record, owner: stackOwner(record) } : undefined;
  });
}

/** The same for a pool member a fill is making. */
export function releaseMemberConflict(
  context: RepoContext,
  config: BerthConfig,
  member: PoolMember,
  conflict: EngineConflict,
): Promise<PoolMember> {
  return takeAnother(context, config, conflict, member.id, (state) => {
    const record = state.pool?.[member.id];
    return record && record.instance === member.instance ? { record, owner: member.id } : undefined;
  });
}

/** What holds leases: an agent's record, or a pool member's. */
type LeasingRecord = Pick<AgentRecord, 'ports' | 'subnet' | 'publishSubnet' | 'instance'>;

async function takeAnother<Leasing extends LeasingRecord>(
  context: RepoContext,
  config: BerthConfig,
  conflict: EngineConflict,
  name: string,
  find: (state: State) => { record: Leasing; owner: string } | undefined,
): Promise<Leasing> {
  const taken = await engineTaken(context);
  return updateState(context.berthDir, async (state) => {
    const found = find(state);
    if (!found) throw new BerthError('record-lost', `the record of ${name} disappeared while it was made`);
    const { record } = found;
    const holder = { agent: found.owner, instance: record.instance ?? '' };
    const request = { context, config, state, holder, taken };
    const portName =
      conflict.kind === 'port'
        ? Object.entries(record.ports).find(([, port]) => port === conflict.port)?.[0]
        : undefined;
    if (conflict.kind === 'port' && !portName) return structuredClone(record);
    const fresh = await leaseFromStore(request, portName ? [portName] : [], conflict.kind === 'subnet');
    const old: { ports: string[]; subnets: string[] } = { ports: [], subnets: [] };
    if (portName) {
      old.ports.push(String(record.ports[portName]));
      record.ports[portName] = fresh.ports[portName] as number;
    } else {
      old.subnets.push(record.subnet, ...(record.publishSubnet ? [record.publishSubnet] : []));
      record.subnet = fresh.subnet ?? record.subnet;
      if (record.publishSubnet) record.publishSubnet = fresh.publishSubnet ?? record.publishSubnet;
    }
    await updateLeases((leases) => {
      for (const port of old.ports) delete leases.ports[port];
      for (const subnet of old.subnets) delete leases.subnets[subnet];
    }, context.runtime.env);
    return structuredClone(record);
  });
}

/** Leases the app ports only, for an agent adopting a pool member (which holds the rest). */
async function leaseAppPorts(request: LeaseRequest): Promise<Record<string, number>> {
  const names = Object.keys(request.config.ports.app);
  if (names.length === 0) return {};
  return (await leaseFromStore(request, names, false)).ports;
}

async function leaseFromStore(
  { context, config, state, holder, taken }: LeaseRequest,
  portNames: string[],
  withSubnets: boolean,
): Promise<{ ports: Record<string, number>; subnet?: string; publishSubnet?: string }> {
  const { runtime } = context;
  return updateLeases(async (leases) => {
    const recorded = [...Object.values(state.agents), ...Object.values(state.pool ?? {})];
    const takenPorts = new Set([
      ...taken.ports,
      ...Object.keys(leases.ports).map(Number),
      ...recorded.flatMap((agent) => Object.values(agent.ports)),
    ]);
    const ports = await freePorts(portNames.length, parsePortRange(config.ports.range), takenPorts);
    const lease = {
      repoId: context.repoId,
      berthDir: context.berthDir,
      agent: holder.agent,
      instance: holder.instance,
      since: new Date(runtime.now()).toISOString(),
    };
    for (const port of ports) leases.ports[String(port)] = lease;
    const leased = Object.fromEntries(portNames.map((portName, index) => [portName, ports[index] as number]));
    if (!withSubnets) return { ports: leased };
    const inUse = [
      ...taken.subnets,
      // What the host routes already (a bridge a dead engine left, a VPN): the engine does not know them.
      ...hostRoutes().map((route) => route.subnet),
      ...Object.keys(leases.subnets),
      ...recorded.flatMap((agent) => [agent.subnet, agent.publishSubnet ?? '']),
    ].filter(Boolean);
    const { subnetPool, subnetPrefix } = config.network;
    const subnet = pickSubnet(subnetPool, subnetPrefix, inUse);
    // Without outbound access the private network is internal, and an internal network drops published
    // ports: Postgres and Redis publish through a second network the agent is not on.
    // Behind an egress proxy, the proxy's outside network is the second one.
    const publishSubnet =
      config.network.outbound && !config.network.egress
        ? undefined
        : pickSubnet(subnetPool, subnetPrefix, [...inUse, subnet]);
    for (const cidr of [subnet, publishSubnet]) if (cidr) leases.subnets[cidr] = lease;
    return { ports: leased, subnet, ...(publishSubnet && { publishSubnet }) };
  }, runtime.env);
}

/**
 * Leases host ports and subnets from the host-wide store and records the agent as provisioning, under
 * the repository's state lock and then the host's lease lock (always in that order). With a pool offer,
 * it takes a member in the same write: the member leaves the pool as the agent's record names it, and the
 * agent takes over its project, labels, leases and passwords, leasing only its app ports. When every
 * member offered was taken meanwhile, it leases everything itself, as a cold provision.
 */
export async function reserve(
  context: RepoContext,
  config: BerthConfig,
  name: string,
  target: BranchTarget,
  stack: {
    images: AgentRecord['images'];
    postgresPreinitialised: boolean;
    template?: NonNullable<AgentRecord['postgres']['template']>;
    /** Its services of `services:`, images resolved (an adopted member carries its own, of the same key). */
    services?: Record<string, ServiceRecord>;
  },
  { offer, taken }: { offer?: PoolOffer | undefined; taken: EngineTaken },
): Promise<AgentRecord> {
  const { runtime } = context;
  const services = stack.services ?? {};
  const owner = ownerOf(context.root);
  const extra = extraLabels(runtime.env.BERTH_LABELS);
  return updateState(context.berthDir, async (state) => {
    if (state.agents[name]) throw alreadyProvisioned(context, name, state.agents[name]);
    // Another agent has the branch, or is being made on it (both passed resolveBranchTarget at once).
    const rival = Object.values(state.agents).find((other) => other.branch === target.branch);
    if (rival)
      throw new UsageError('branch-taken', `branch ${target.branch} is agent ${rival.name}'s`, {
        hint: 'a branch is checked out in one worktree only: pick another branch, or wait for that agent',
      });
    const adopt = offer && pickMember(state.pool ?? {}, offer.key, offer.running);
    const instance = adopt?.instance ?? instanceId(runtime.randomBytes(6));
    const request = {
      context,
      config,
      state,
      holder: { agent: adopt?.labels[LABELS.agent] ?? name, instance },
      taken,
    };
    const leased = adopt
      ? {
          ports: { ...adopt.ports, ...(await leaseAppPorts(request)) },
          subnet: adopt.subnet,
          ...(adopt.publishSubnet && { publishSubnet: adopt.publishSubnet }),
        }
      : await leaseResources(
          request,
          leasedPortNames(
            {
              postgres: config.postgres.enabled,
              redis: config.redis.enabled,
              others: serviceLeaseNames(services),
            },
            config.ports.app,
          ),
        );
    const database = adopt
      ? { images: adopt.images, postgres: adopt.postgres }
      : planDatabase({
          postgres: config.postgres,
          images: stack.images,
          preinitialised: stack.postgresPreinitialised,
          template: stack.template,
        });
    const agent = planAgentRecord({
      name,
      repoId: context.repoId,
      target,
      composeProject: adopt?.composeProject ?? composeProject(context.repoId, name),
      composeFile: context.paths.composeFile(name),
      stateDir: context.paths.agentDir(name),
      envFile: join(target.worktree, config.envFile),
      hostEnvFile: context.paths.hostEnvFile(name),
      // The copy of the config it is made with (written with its files), for its later hooks.
      configFile: context.paths.agentConfig(name),
      labels: adopt?.labels ?? newStackLabels(extra, context.repoId, name, instance),
      leased,
      // An adopted member's leases are in this same store: a member of another is never offered.
      leasesDir: leasesDir(runtime.env),
      passwords: adopt?.passwords ?? newPasswords(runtime.randomBytes, randomKeys(services)),
      // A member's services are the agent's whole: their containers, leases and random values.
      services: adopt ? (adopt.services ?? {}) : services,
      user: { uid: owner.uid, gid: owner.gid },
      ...database,
      redisEnabled: config.redis.enabled,
      postgresEnabled: config.postgres.enabled,
      appPorts: config.ports.app,
      egress: Boolean(config.network.egress),
      secrets: grantsOf(config.secrets),
      instance,
      owner: runtime.self(),
      now: runtime.now(),
      ttlSeconds: parseDuration(config.ttl),
    });
    if (adopt) {
      agent.pooled = adopt.id;
      delete state.pool?.[adopt.id];
    }
    state.agents[name] = agent;
    if (target.created)
      state.branches = {
        ...state.branches,
        [target.branch]: { agent: name, start: target.startCommit, base: target.baseRef },
      };
    return agent;
  });
}

export function alreadyProvisioned(context: RepoContext, name: string, agent?: AgentRecord): UsageError {
  if (agent?.status === 'removing') {
    return new UsageError(
      'agent-being-removed',
      `agent "${name}" is being removed (${agent.removal?.reason})`,
      {
        hint: `wait until it is gone (berth ls), then provision it again`,
      },
    );
  }
  return new UsageError('agent-exists', `agent "${name}" is already provisioned in ${context.root}`, {
    hint: `use it (berth exec ${name} -- …), or tear it down first (berth teardown ${name})`,
  });
}
