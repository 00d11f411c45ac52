import { type AgentRecord, hasPostgres } from './agent.js';
import { proxyEnv } from './egress.js';
import { portVariable, serviceVariables } from './services.js';

/** The in-container path of the host's CA bundle. */
export const CONTAINER_CA_PATH = '/etc/berth/host-ca.crt';

export type EnvMap = Record<string, string>;

type View = 'host' | 'container';

function endpoints(agent: Pick<AgentRecord, 'ports'>, view: View) {
  const host = (service: string) => (view === 'host' ? '127.0.0.1' : service);
  return {
    pgHost: host('postgres'),
    pgPort: view === 'host' ? (agent.ports.postgres ?? 0) : 5432,
    redisHost: host('redis'),
    redisPort: view === 'host' ? (agent.ports.redis ?? 0) : 6379,
  };
}

export function databaseUrl(
  agent: Pick<AgentRecord, 'ports' | 'postgres' | 'passwords'>,
  view: View,
): string {
  const { pgHost, pgPort } = endpoints(agent, view);
  const { user, database } = agent.postgres;
  return `postgres://${user}:${agent.passwords.postgres}@${pgHost}:${pgPort}/${database}`;
}

export function redisUrl(agent: AgentRecord, view: View): string | undefined {
  if (!agent.redisEnabled) return undefined;
  const { redisHost, redisPort } = endpoints(agent, view);
  return `redis://:${agent.passwords.redis}@${redisHost}:${redisPort}`;
}

/** The app's PORT: its first declared app port inside the container, its leased port on the host. */
function appPort(agent: AgentRecord, view: View): number | undefined {
  const first = Object.keys(agent.appPorts)[0];
  if (first === undefined) return undefined;
  return view === 'host' ? agent.ports[first] : agent.appPorts[first];
}

/** The variables an agent's code sees: by service name in the container, by 127.0.0.1 port on the host. */
export function agentEnv(agent: AgentRecord, view: View): EnvMap {
  const { pgHost, pgPort } = endpoints(agent, view);
  const env: EnvMap = {
    BERTH_NAME: agent.name,
    BERTH_BRANCH: agent.branch,
    BERTH_WORKTREE: agent.worktree,
    ...(hasPostgres(agent) && {
      DATABASE_URL: databaseUrl(agent, view),
      PGHOST: pgHost,
      PGPORT: String(pgPort),
      PGUSER: agent.postgres.user,
      PGPASSWORD: agent.passwords.postgres,
      PGDATABASE: agent.postgres.database,
    }),
  };
  const redis = redisUrl(agent, view);
  if (redis) env.REDIS_URL = redis;
  const port = appPort(agent, view);
  if (port !== undefined) env.PORT = String(port);
  // Each service of services:: NAME_HOST, NAME_PORT and NAME_URL.
  for (const [service, spec] of Object.entries(agent.services ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    Object.assign(env, serviceVariables(service, spec, agent, view));
  // The leased host ports, in both views: hooks and tools inside may need to tell them to the host.
  for (const [name, leased] of Object.entries(agent.ports)) env[portVariable(name)] = String(leased);
  // Behind an egress proxy, the container's only way out is the proxy.
  if (agent.egress && view === 'container') Object.assign(env, proxyEnv(agent));
  return env;
}

/** KEY=value lines that both Compose's env_file and dotenv libraries read (values need no quoting). */
export function renderEnvFile(env: EnvMap, header: string): string {
  const lines = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  return `# ${header}\n${lines.join('\n')}\n`;
}
