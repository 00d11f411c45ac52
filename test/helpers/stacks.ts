import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { AgentRecord } from '../../src/plan/agent.js';
import { LABELS, stackOwner } from '../../src/plan/names.js';
import type { PoolMember } from '../../src/plan/pool.js';
import { type Lease, type Leases, readLeases } from '../../src/state/leases.js';
import { readState } from '../../src/state/store.js';
import { docker } from './docker.js';

/**
 * What an agent that reported ready must have: its agent, Postgres and Redis containers running, and
 * its Postgres and Redis answering on its leased ports with its own passwords. Empty when all is there.
 */
export async function stackProblems(agent: AgentRecord): Promise<string[]> {
  const problems: string[] = [];
  const owner = stackOwner(agent);
  const containers = await docker().listContainers({
    all: true,
    filters: { label: [`${LABELS.repo}=${agent.repoId}`, `${LABELS.agent}=${owner}`] },
  });
  for (const service of ['agent', 'postgres', ...(agent.redisEnabled ? ['redis'] : [])]) {
    const found = containers.filter((c) => c.Labels['com.docker.compose.service'] === service);
    if (found.length !== 1) problems.push(`${agent.name}: ${found.length} ${service} containers`);
    else if (found[0]?.State !== 'running') problems.push(`${agent.name}: ${service} is ${found[0]?.State}`);
  }
  const client = new pg.Client({
    host: '127.0.0.1',
    port: agent.ports.postgres,
    user: agent.postgres.user,
    password: agent.passwords.postgres,
    database: agent.postgres.database,
    connectionTimeoutMillis: 5000,
    query_timeout: 5000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    problems.push(`${agent.name}: postgres on ${agent.ports.postgres}: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
  if (agent.redisEnabled) {
    const redis = new Redis({
      host: '127.0.0.1',
      port: agent.ports.redis,
      password: agent.passwords.redis,
      lazyConnect: true,
      connectTimeout: 5000,
      commandTimeout: 5000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on('error', () => {});
    try {
      await redis.connect();
      if ((await redis.ping()) !== 'PONG') problems.push(`${agent.name}: redis did not answer PONG`);
    } catch (error) {
      problems.push(`${agent.name}: redis on ${agent.ports.redis}: ${(error as Error).message}`);
    } finally {
      redis.disconnect();
    }
  }
  return problems;
}

type Holder = { agent: string; instance: string };
const holderOf = (labels: Record<string, string>): Holder => ({
  agent: labels[LABELS.agent] ?? '',
  instance: labels[LABELS.instance] ?? '',
});
const same = (lease: Lease | undefined, holder: Holder) =>
  lease !== undefined && lease.agent === holder.agent && lease.instance === holder.instance;

/**
 * Watches one repository's leases while a test attacks it, and records every moment at which a port or a
 * subnet is held by two parties, or released while what holds it runs:
 * - two records of the state (agents and pool members) with one port or subnet;
 * - a record whose port or subnet the host lease store gives to nobody or to another holder;
 * - a running container publishing a port, or a network with a subnet, that the store gives to nobody
 *   or to another holder than the one on its labels.
 * The store is read before and after the state and the engine, and a lease counts when either read
 * has it: a lease is taken before what uses it is made and released after it is gone.
 */
export function watchLeases(berthDir: string, repoId: string) {
  let running = true;
  let samples = 0;
  const violations = new Set<string>();
  const held = (before: Leases, after: Leases, kind: 'ports' | 'subnets', key: string, holder: Holder) =>
    same(before[kind][key], holder) || same(after[kind][key], holder);
  const sample = async () => {
    const before = readLeases(process.env);
    const state = readState(berthDir);
    const filters = { label: [`${LABELS.repo}=${repoId}`] };
    const [containers, networks] = await Promise.all([
      docker().listContainers({ filters }),
      docker().listNetworks({ filters }),
    ]);
    const after = readLeases(process.env);
    const records: Array<{ what: string; holder: Holder; ports: number[]; subnets: string[] }> = [
      ...Object.values(state.agents).map((a) => ({
        what: `agent ${a.name}`,
        holder: { agent: stackOwner(a), instance: a.instance ?? '' },
        ports: Object.values(a.ports),
        subnets: [a.subnet, a.publishSubnet ?? ''].filter(Boolean),
      })),
      ...Object.values(state.pool ?? {}).map((m: PoolMember) => ({
        what: `pool member ${m.id}`,
        holder: { agent: m.id, instance: m.instance },
        ports: Object.values(m.ports),
        subnets: [m.subnet, m.publishSubnet ?? ''].filter(Boolean),
      })),
    ];
    const seen = new Map<string, string>();
    for (const record of records) {
      for (const [kind, keys] of [
        ['ports', record.ports.map(String)],
        ['subnets', record.subnets],
      ] as const) {
        for (const key of keys) {
          const other = seen.get(`${kind} ${key}`);
          if (other) violations.add(`${kind} ${key} recorded for ${other} and ${record.what}`);
          seen.set(`${kind} ${key}`, record.what);
          if (!held(before, after, kind, key, record.holder))
            violations.add(`${kind} ${key} of ${record.what} is not leased to it`);
        }
      }
    }
    for (const container of containers) {
      const holder = holderOf(container.Labels);
      for (const port of container.Ports.map((p) => p.PublicPort).filter(Boolean)) {
        if (!held(before, after, 'ports', String(port), holder))
          violations.add(
            `port ${port} published by running ${container.Names[0]} is leased to ${JSON.stringify(after.ports[String(port)] ?? null)}`,
          );
      }
    }
    for (const network of networks) {
      const holder = holderOf(network.Labels ?? {});
      for (const subnet of (network.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter(Boolean)) {
        if (!held(before, after, 'subnets', subnet, holder))
          violations.add(
            `subnet ${subnet} of network ${network.Name} is leased to ${JSON.stringify(after.subnets[subnet] ?? null)}`,
          );
      }
    }
    samples++;
  };
  let failure: unknown;
  const loop = (async () => {
    while (running) {
      await sample();
      await sleep(100);
    }
  })().catch((error) => {
    failure = error; // rethrown by stop: a test fails on it, not the run
  });
  return {
    samples: () => samples,
    stop: async () => {
      running = false;
      await loop;
      if (failure) throw failure;
      return { samples, violations: [...violations] };
    },
  };
}

/** Every lease of the repository left in the host store (after everything of it is gone: none). */
export function repoLeases(repoId: string): string[] {
  const leases = readLeases(process.env);
  return [
    ...Object.entries(leases.ports).filter(([, l]) => l.repoId === repoId),
    ...Object.entries(leases.subnets).filter(([, l]) => l.repoId === repoId),
  ].map(([key, lease]) => `${key} ${lease.agent}`);
}
