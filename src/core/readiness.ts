import { setTimeout as sleep } from 'node:timers/promises';
import { postgresAnswers, redisAnswers } from '../adapters/probe.js';
import { BerthError, interrupted } from '../errors.js';
import type { AgentRecord } from '../plan/agent.js';
import { databaseUrl } from '../plan/env.js';

/** Polls the agent's Postgres and Redis from the host, with its own credentials, until both answer. */
export async function waitUntilReady(
  agent: AgentRecord,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(['postgres', ...(agent.redisEnabled ? ['redis'] : [])]);
  while (pending.size > 0) {
    if (signal?.aborted) throw interrupted();
    const checks = await Promise.all(
      [...pending].map(async (service) => {
        const ok =
          service === 'postgres'
            ? await postgresAnswers(databaseUrl(agent, 'host'))
            : await redisAnswers(agent.ports.redis ?? 0, agent.passwords.redis);
        return ok ? service : undefined;
      }),
    );
    for (const service of checks) if (service) pending.delete(service);
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      throw new BerthError(
        'health-timeout',
        `${[...pending].join(' and ')} did not answer within ${timeoutMs / 1000} s`,
        {
          hint: "raise healthTimeout in berth.yaml; the containers' output is in containers.log beside the log",
        },
      );
    }
    await sleep(25);
  }
}
