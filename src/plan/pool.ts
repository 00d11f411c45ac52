import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { BerthConfig } from '../config/schema.js';
import { type AgentRecord, agentRecordSchema, type ProcessId, processIdSchema } from './agent.js';
import type { ServiceRecord } from './services.js';

/**
 * A warm pool member: an environment made ahead of any agent (Postgres from the template, Redis and the
 * services of `services:` started, ports and subnet leased, networks made), not yet bound to a worktree. A provision adopts
 * one whole: its compose project, labels and leases become the agent's, and only the agent container
 * is made. Docker labels cannot change, so an adopted agent's resources keep the member's `agent`
 * label: berth finds an agent's resources by the labels in its record, not by its name.
 *
 * One party owns a member at every instant, and ownership changes only under the state lock: the fill
 * making it (`making`, `owner`), the pool (`ready`), whoever removes it (`removing`, `owner`), or, once
 * adopted, the agent's record (the member leaves the pool in the same write that records the agent).
 */
export const poolMemberSchema = z.object({
  id: z.string(),
  /** What the member was made for (see poolKey): a provision adopts only a member of its own key. */
  key: z.string(),
  status: z.enum(['making', 'ready', 'removing']),
  /**
   * The berth process making it (status making) or removing it (status removing): gc removes it, or
   * finishes its removal, once that process is gone.
   */
  owner: processIdSchema.optional(),
  /** Why it is being removed, while status is removing. */
  removal: z.string().optional(),
  createdAt: z.string(),
  composeProject: z.string(),
  composeFile: z.string(),
  labels: z.record(z.string(), z.string()),
  instance: z.string(),
  ports: z.record(z.string(), z.number().int()),
  subnet: z.string(),
  publishSubnet: z.string().optional(),
  /** The host lease store its ports and subnet are leased in: only a provision of that store adopts it. */
  leasesDir: agentRecordSchema.shape.leasesDir,
  passwords: agentRecordSchema.shape.passwords,
  images: agentRecordSchema.shape.images,
  postgres: agentRecordSchema.shape.postgres,
  redisEnabled: z.boolean(),
  /** Its services of `services:`, images resolved, as an agent's record keeps them (absent: none). */
  services: agentRecordSchema.shape.services,
});
export type PoolMember = z.output<typeof poolMemberSchema>;

/** The name a member's resources carry as their agent label, and its compose project's suffix. */
export function poolMemberName(random: Buffer): string {
  return `pool-${random.toString('hex').slice(0, 10)}`;
}

/** Everything a member's stack depends on: a member is adopted only by a provision that would make the same. */
export function poolKey(input: {
  repoId: string;
  images: AgentRecord['images'];
  postgres: Pick<AgentRecord['postgres'], 'user' | 'database' | 'storage' | 'preinitialised'>;
  config: BerthConfig;
  /** The services of `services:`, images resolved: a member carries them. */
  services?: Record<string, ServiceRecord>;
}): string {
  const { config } = input;
  const services = input.services ?? {};
  const facts = {
    repoId: input.repoId,
    images: input.images,
    postgres: input.postgres,
    redis: config.redis.enabled,
    network: config.network,
    restart: config.restart,
    // Only when there are some: the keys of pools without services stay what they were.
    ...(Object.keys(services).length > 0 && { services }),
  };
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex').slice(0, 16);
}

/** The services a member's stack runs, by compose service name: it is whole only with all of them running. */
export function memberServices(member: Pick<PoolMember, 'redisEnabled' | 'services'>): string[] {
  return ['postgres', ...(member.redisEnabled ? ['redis'] : []), ...Object.keys(member.services ?? {})];
}

/** Ready members of `key`, oldest first: the one a provision adopts is the first. */
export function readyMembers(members: Record<string, PoolMember>, key: string): PoolMember[] {
  return Object.values(members)
    .filter((m) => m.status === 'ready' && m.key === key)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * The member a provision adopts, decided under the state lock: the oldest ready member of its key among
 * those whose stack was seen running.
 */
export function pickMember(
  members: Record<string, PoolMember>,
  key: string,
  running: ReadonlySet<string>,
): PoolMember | undefined {
  return readyMembers(members, key).find((m) => running.has(m.id));
}

/**
 * How many members a fill makes: until `size` of the current key are ready or being made. Members being
 * removed count for nothing; without a key (its template is not built yet) none are made.
 */
export function membersToMake(
  members: Record<string, PoolMember>,
  key: string | undefined,
  size: number,
): number {
  if (key === undefined) return 0;
  const current = Object.values(members).filter((m) => m.key === key && m.status !== 'removing').length;
  return Math.max(0, size - current);
}

/** What the process deciding knows of other processes. */
export interface Liveness {
  isRunning: (process: ProcessId) => boolean;
}

/** A member whose owner (the fill making it, or whoever removes it) is gone: nobody will finish it. */
export function abandoned(member: PoolMember, facts: Liveness): boolean {
  return member.status !== 'ready' && (!member.owner || !facts.isRunning(member.owner));
}

/**
 * Why a member is removed, or undefined when it stays. Decided on a fresh read under the state lock:
 * `drain` takes every member nobody else owns (ready ones, and those whose owner is gone); `gc` only the
 * abandoned ones; `stale` ready members of another key; `stopped` a ready member whose stack stopped.
 */
export function removalReason(
  member: PoolMember,
  purpose: { kind: 'drain' | 'gc' } | { kind: 'stale'; key: string | undefined } | { kind: 'stopped' },
  facts: Liveness,
): string | undefined {
  if (abandoned(member, facts)) {
    if (purpose.kind !== 'drain' && purpose.kind !== 'gc') return undefined;
    return member.status === 'making'
      ? 'a warm pool member whose making was stopped'
      : `a warm pool member whose removal (${member.removal ?? 'unknown'}) was interrupted`;
  }
  if (member.status !== 'ready') return undefined;
  switch (purpose.kind) {
    case 'drain':
      return 'the pool was drained';
    case 'stale':
      return member.key === purpose.key ? undefined : 'a warm pool member of an older base';
    case 'stopped':
      return 'a warm pool member whose stack stopped';
    default:
      return undefined;
  }
}
