import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ContainerRunFacts,
  containerLogTail,
  containerRuns,
  engineGone,
  execInContainer,
  type LabelledContainer,
  listContainers,
} from '../../adapters/docker.js';
import { hostRoutes } from '../../adapters/host-net.js';
import {
  httpAnswers,
  loadPostgresClient,
  PROBE_TIMEOUT_MS,
  type ProbeAnswer,
  postgresAnswers,
  redisAnswers,
  tcpAnswers,
} from '../../adapters/probe.js';
import { BerthError, EnvironmentError, interrupted, messageOf } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { overlaps } from '../../plan/allocate.js';
import { type StackSpec, stackReadiness } from '../../plan/compose.js';
import { stackSelector } from '../../plan/names.js';
import type { Readiness } from '../../plan/services.js';
import { type ContainerRun, steadyVerdict } from '../../plan/steady.js';
import type { RepoContext } from '../context.js';

type Service = string;
type Watched = Service;

/** What the probes need of a stack: an agent's record, or a warm pool member. */
export type ReadinessTarget = Pick<
  AgentRecord,
  'labels' | 'ports' | 'passwords' | 'postgres' | 'redisEnabled' | 'subnet' | 'egress'
> &
  Partial<Pick<StackSpec, 'postgresEnabled' | 'services'>>;

/** How often the containers' states are read while waiting: an exited container fails the wait at once. */
const STATE_CHECK_MS = 1000;

/**
 * Gets the probes ready while the engine starts the containers (the Postgres client's load is CPU the
 * first probe would otherwise wait for). Nothing to wait for: a failed load shows in the first probe.
 */
export function prepareProbes(agent: ReadinessTarget): void {
  if (stackReadiness(agent).some((spec) => spec.ready.kind === 'postgres'))
    loadPostgresClient().catch(() => {});
}

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
  const specs = new Map(stackReadiness(agent).map((spec) => [spec.name, spec.ready]));
  const pending = new Set(specs.keys());
  const answers = new Map<Service, string>();
  let lastStateCheck = started;
  while (pending.size > 0) {
    if (signal?.aborted) throw interrupted();
    // The containers are listed once a round, for the probes that look at a service's own container.
    const atContainer = [...pending].some(
      (s) => !['postgres', 'redis', 'http'].includes(specs.get(s)?.kind ?? ''),
    );
    const containers = atContainer
      ? await listContainers(context.docker, stackSelector(context.repoId, agent.labels))
      : [];
    const results = await Promise.all(
      [...pending].map(async (s) => {
        const container = containers.find((c) => c.service === s);
        // Behind an egress proxy the host has no route to the agent's network: its proxy, on it, probes.
        const proxy = agent.egress ? containers.find((c) => c.service === 'egress') : undefined;
        return [
          s,
          await probe(context, container, specs.get(s), agent.egress ? { proxy } : undefined),
        ] as const;
      }),
    );
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

/** One probe of one service, through the probe adapter (each within its timeout). */
async function probe(
  context: RepoContext,
  container: LabelledContainer | undefined,
  ready: Readiness | undefined,
  egress?: { proxy: LabelledContainer | undefined },
): Promise<ProbeAnswer> {
  switch (ready?.kind) {
    case 'postgres':
      return postgresAnswers(ready.url);
    case 'redis':
      return redisAnswers(ready.port, ready.password);
    case 'http':
      return httpAnswers(ready.hostPort, ready.path);
    case 'tcp':
    case 'command':
    case 'started': {
      if (!container) return { ok: false, answer: 'no container yet' };
      if (container.state !== 'running') return { ok: false, answer: `container ${container.state}` };
      if (ready.kind === 'started') return { ok: true };
      if (ready.kind === 'command') return commandAnswers(context, container.id, ready.command);
      const address = container.addresses[0];
      if (!address) return { ok: false, answer: 'the container has no address yet' };
      return egress
        ? tcpFromProxy(context, egress.proxy, address, ready.port)
        : tcpAnswers(address, ready.port);
    }
    default:
      return { ok: false, answer: 'no probe for it' };
  }
}

/**
 * A tcp probe behind an egress proxy: socat in the proxy's container connects to the service's address
 * (and closes at once): a connection accepted is an answer, as from the host.
 */
async function tcpFromProxy(
  context: RepoContext,
  proxy: LabelledContainer | undefined,
  address: string,
  port: number,
): Promise<ProbeAnswer> {
  if (proxy?.state !== 'running')
    return { ok: false, answer: 'its egress proxy, which probes it, is not running yet' };
  const seconds = PROBE_TIMEOUT_MS / 1000;
  const connect = ['socat', '-u', 'OPEN:/dev/null', `TCP:${address}:${port},connect-timeout=${seconds}`];
  const answer = await commandAnswers(context, proxy.id, connect);
  return answer.ok ? answer : { ok: false, answer: `from its proxy: ${answer.answer}` };
}

/** Runs the readiness command in the service's container: exit 0 within the probe's time is an answer. */
async function commandAnswers(context: RepoContext, id: string, command: string[]): Promise<ProbeAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ProbeAnswer>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, answer: `no exit within ${PROBE_TIMEOUT_MS / 1000} s` }),
      PROBE_TIMEOUT_MS,
    );
  });
  const run = execInContainer(context.docker, id, command).then(
    (result): ProbeAnswer =>
      result.exitCode === 0
        ? { ok: true }
        : {
            ok: false,
            answer: `${command.join(' ')} exited with ${result.exitCode}${result.stderr.trim() ? `: ${result.stderr.trim().split('\n').pop()}` : ''}`,
          },
    (error): ProbeAnswer => ({ ok: false, answer: messageOf(error).split('\n')[0] ?? 'failed' }),
  );
  const answer = await Promise.race([run, deadline]);
  clearTimeout(timer);
  return answer;
}

/**
 * After its services answer, every container of the stack must keep running (plan/steady.ts): one that
 * exits, or that its restart policy keeps bringing back, fails the wait with its last lines. `required`
 * are the services that must have a container (the agent's, in a provision). Looks again until each has
 * run long enough, STEADY_BOUND_MS at most.
 */
export async function waitUntilSteady(
  context: RepoContext,
  target: ReadinessTarget,
  options: {
    required?: string[];
    /** Only these services (default: every one of the stack). */
    only?: (service: string) => boolean;
  },
  signal?: AbortSignal,
): Promise<void> {
  const { required = [], only = () => true } = options;
  const runOf = (facts: ContainerRunFacts): ContainerRun => {
    const service = facts.service ?? facts.id.slice(0, 12);
    const exited = facts.status === 'exited' ? { exitCode: facts.exitCode } : {};
    return {
      service,
      running: facts.status === 'running',
      restarting: facts.status === 'restarting',
      state: containerState({ state: facts.status, ...exited }),
      restarts: facts.restarts,
      startedAt: facts.startedAt,
    };
  };
  const started = context.runtime.now();
  for (;;) {
    if (signal?.aborted) throw interrupted();
    const facts = (await containerRuns(context.docker, stackSelector(context.repoId, target.labels))).filter(
      (f) => only(f.service ?? ''),
    );
    const now = context.runtime.now();
    const verdict = steadyVerdict(facts.map(runOf), required, now, now - started);
    if (verdict.kind === 'steady') return;
    if (verdict.kind === 'failed') {
      const run = facts.find((f) => runOf(f).service === verdict.service);
      const lastLines = run ? await containerLogTail(context.docker, run.id, 5).catch(() => []) : [];
      throw notRunning(verdict.service, verdict.state, lastLines);
    }
    await sleep(verdict.ms, undefined, { signal }).catch(() => {
      throw interrupted();
    });
  }
}

function notRunning(service: string, state: string, lastLines: string[]): BerthError {
  const agent = service === 'agent';
  return new BerthError(
    agent ? 'agent-not-running' : 'service-not-running',
    agent ? `the agent's container ${state}` : `the ${service} container ${state} after it started`,
    {
      hint: agent
        ? 'check agent.image and agent.command in berth.yaml: the command must keep running (its last lines are below)'
        : `check the ${service} service's image and command in berth.yaml: a service must keep running (its last lines are below)`,
      details: lastLines.map((line) => `${service}: ${line}`),
    },
  );
}

/** A container's state in words: missing, its state, keeps exiting (restarting), exited with code N. */
export function containerState(container: Pick<LabelledContainer, 'state' | 'exitCode'> | undefined): string {
  if (!container) return 'missing';
  if (container.state === 'restarting') return 'keeps exiting (restarting)';
  return container.exitCode === undefined ? container.state : `exited with code ${container.exitCode}`;
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
        const state = containerState(container);
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
  // Postgres, Redis and an http readiness are probed on the leased port; the others at the container.
  const where = (service: Service) => {
    const ready = stackReadiness(agent).find((spec) => spec.name === service)?.ready;
    if (ready?.kind === 'tcp') return `probed ${service}:${ready.port} on its network`;
    if (ready?.kind === 'command') return `probed with ${ready.command.join(' ')} in its container`;
    if (ready?.kind === 'started') return 'waited for its container to run';
    return `probed 127.0.0.1:${ready?.kind === 'http' ? ready.hostPort : port(service)}`;
  };
  const message = timedOut
    ? `${[...pending].join(' and ')} did not answer within ${timeoutMs / 1000} s (${[...pending]
        .map((s) => `${s} ${where(s).replace('probed ', 'on ')}: ${answers.get(s) ?? 'no answer'}`)
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
        ? `egress: container ${p.state} (the proxy its services answer the host through)`
        : `${p.service}: container ${p.state}; ${where(p.service)}: ${answers.get(p.service) ?? 'no answer'}`,
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
