import { setTimeout as sleep } from 'node:timers/promises';
import { containerLogTail, engineGone, listContainers } from '../../adapters/docker.js';
import { hostRoutes } from '../../adapters/host-net.js';
import { type ProbeAnswer, postgresAnswers, redisAnswers } from '../../adapters/probe.js';
import { BerthError, EnvironmentError, interrupted, messageOf } from '../../errors.js';
import { type AgentRecord, stackServices } from '../../plan/agent.js';
import { overlaps } from '../../plan/allocate.js';
import { databaseUrl } from '../../plan/env.js';
import { stackSelector } from '../../plan/names.js';
import type { RepoContext } from '../context.js';

type Service = 'postgres' | 'redis';
type Watched = Service | 'egress';

/** What the probes need of a stack: an agent's record, or a warm pool member. */
export type ReadinessTarget = Pick<
  AgentRecord,
  'labels' | 'ports' | 'passwords' | 'postgres' | 'redisEnabled' | 'subnet' | 'egress'
>;

/** How often the containers' states are read while waiting: an exited container fails the wait at once. */
const STATE_CHECK_MS = 1000;

/**
 * Polls the agent's Postgres and Redis from the host, with its own credentials, until both answer. If
 * one does not, the error says why: its container's state and last lines, the port probed, the answer.
 */
export async function waitUntilReady(
  context: RepoContext,
  agent: ReadinessTarget,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const started = Date.now();
  const pending = new Set(stackServices(agent).filter((s): s is Service => s !== 'agent'));
  const answers = new Map<Service, string>();
  let lastStateCheck = started;
  while (pending.size > 0) {
    if (signal?.aborted) throw interrupted();
    const results = await Promise.all([...pending].map(async (s) => [s, await probe(agent, s)] as const));
    for (const [service, answer] of results) {
      if (answer.ok) pending.delete(service);
      else answers.set(service, answer.answer);
    }
    if (pending.size === 0) return;
    const now = Date.now();
    const timedOut = now - started > timeoutMs;
    if (timedOut || now - lastStateCheck >= STATE_CHECK_MS) {
      lastStateCheck = now;
      // Behind an egress proxy, Postgres and Redis answer through it: a proxy that exits fails the wait too.
      const watched = [...pending, ...(agent.egress ? (['egress'] as const) : [])];
      const problems = await serviceProblems(context, agent, watched);
      if (problems.some((p) => p.exited) || timedOut)
        throw notReady(agent, pending, answers, problems, timeoutMs, timedOut);
    }
    await sleep(25);
  }
}

function probe(agent: ReadinessTarget, service: Service): Promise<ProbeAnswer> {
  return service === 'postgres'
    ? postgresAnswers(databaseUrl(agent, 'host'))
    : redisAnswers(agent.ports.redis ?? 0, agent.passwords.redis);
}

interface ServiceProblem {
  service: Watched;
  exited: boolean;
  state: string;
  lastLines: string[];
}

/** The pending services' containers as the engine sees them, with their last lines when they stopped. */
async function serviceProblems(context: RepoContext, agent: ReadinessTarget, services: Watched[]) {
  try {
    const containers = await listContainers(context.docker, stackSelector(context.repoId, agent.labels));
    return await Promise.all(
      services.map(async (service): Promise<ServiceProblem> => {
        const container = containers.find((c) => c.service === service);
        const state = !container
          ? 'missing'
          : container.state === 'restarting'
            ? 'keeps exiting (restarting)'
            : container.exitCode === undefined
              ? container.state
              : `exited with code ${container.exitCode}`;
        // Under a restart policy, a container that keeps exiting shows as restarting.
        const exited = !container || ['exited', 'dead', 'restarting'].includes(container.state);
        const lastLines = container
          ? await containerLogTail(context.docker, container.id, 5).catch(() => [])
          : [];
        return { service, exited, state, lastLines };
      }),
    );
  } catch (error) {
    if (engineGone(error)) {
      throw new EnvironmentError('engine-gone', `the Docker engine went away (${messageOf(error)})`, {
        hint: 'start it again (berth host init); berth gc then removes what was left',
        cause: error,
      });
    }
    throw error;
  }
}

function notReady(
  agent: ReadinessTarget,
  pending: Set<Service>,
  answers: Map<Service, string>,
  problems: ServiceProblem[],
  timeoutMs: number,
  timedOut: boolean,
): BerthError {
  const exited = problems.filter((p) => p.exited);
  const port = (service: Service) => agent.ports[service];
  const message = timedOut
    ? `${[...pending].join(' and ')} did not answer within ${timeoutMs / 1000} s (${[...pending]
        .map((s) => `${s} on 127.0.0.1:${port(s)}: ${answers.get(s) ?? 'no answer'}`)
        .join('; ')})`
    : `${exited.map((p) => `${p.service} ${p.state}`).join(' and ')} before answering`;
  const routes = hostRoutes().filter((route) => overlaps(route.subnet, agent.subnet));
  const conflict =
    routes.length > 1
      ? [
          `the host routes ${agent.subnet} through ${routes.map((r) => r.iface).join(' and ')}: another network (one a stopped engine left?) overlaps the agent's`,
        ]
      : [];
  const details = problems
    .flatMap((p) => [
      p.service === 'egress'
        ? `egress: container ${p.state} (the proxy Postgres and Redis answer through)`
        : `${p.service}: container ${p.state}; probed 127.0.0.1:${port(p.service)}: ${answers.get(p.service) ?? 'no answer'}`,
      ...p.lastLines.map((line) => `${p.service} | ${line}`),
    ])
    .concat(conflict);
  return new BerthError('health-timeout', message, {
    hint: exited.length
      ? "the container's last lines are below; check the image and its settings in berth.yaml"
      : 'the container runs but does not answer: check its image and its lines below, or raise healthTimeout',
    details,
  });
}
