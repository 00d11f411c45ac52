import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { BerthConfig } from '../config/schema.js';
import { type AgentRecord, agentRecordSchema, processIdSchema } from './agent.js';

/**
 * A warm pool member: an environment made ahead of any agent (Postgres from the template and Redis
 * started, ports and subnet leased, networks made), not yet bound to a worktree. A provision adopts
 * one whole: its compose project, labels and leases become the agent's, and only the agent container
 * is made. Docker labels cannot change, so an adopted agent's resources keep the member's `agent`
 * label: berth finds an agent's resources by the labels in its record, not by its name.
 */
export const poolMemberSchema = z.object({
  id: z.string(),
  /** What the member was made for (see poolKey): a provision adopts only a member of its own key. */
  key: z.string(),
  status: z.enum(['making', 'ready']),
  /** The berth process making it, while status is making: gc removes it if that process died. */
  owner: processIdSchema.optional(),
  createdAt: z.string(),
  composeProject: z.string(),
  composeFile: z.string(),
  labels: z.record(z.string(), z.string()),
  instance: z.string(),
  ports: z.record(z.string(), z.number().int()),
  subnet: z.string(),
  publishSubnet: z.string().optional(),
  passwords: agentRecordSchema.shape.passwords,
  images: agentRecordSchema.shape.images,
  postgres: agentRecordSchema.shape.postgres,
  redisEnabled: z.boolean(),
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
}): string {
  const { config } = input;
  const facts = {
    repoId: input.repoId,
    images: input.images,
    postgres: input.postgres,
    redis: config.redis.enabled,
    network: config.network,
    restart: config.restart,
  };
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex').slice(0, 16);
}

/** Ready members of `key`, oldest first: the one a provision adopts is the first. */
export function readyMembers(members: Record<string, PoolMember>, key: string): PoolMember[] {
  return Object.values(members)
    .filter((m) => m.status === 'ready' && m.key === key)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * What a fill does: members of another key go (the base or config moved on), and new ones are made
 * until `size` of the current key are ready or being made.
 */
export function planFill(
  members: Record<string, PoolMember>,
  key: string,
  size: number,
): { stale: PoolMember[]; toMake: number } {
  const all = Object.values(members);
  const stale = all.filter((m) => m.key !== key && m.status === 'ready');
  const current = all.filter((m) => m.key === key).length;
  return { stale, toMake: Math.max(0, size - current) };
}
