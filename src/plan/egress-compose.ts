import type { BerthConfig } from '../config/schema.js';
import type { AgentRecord } from './agent.js';
import type { Mount } from './compose.js';
import { addressesOf, publishedPorts } from './egress.js';

/** The host files of an agent's egress proxy (its folder in berth's, and its log folder). */
export interface EgressFiles {
  /** squid.conf and the forwarders: mounted read-only in the proxy. */
  confDir: string;
  /** Where Squid writes access.log (the JSON lines) and cache.log: the agent's logs folder. */
  logDir: string;
  /** The agent's /etc/hosts and /etc/resolv.conf, mounted read-only in its container. */
  hosts: string;
  resolvConf: string;
}

/** Where the proxy container finds them. */
export const PROXY_CONF_DIR = '/etc/berth-egress';
export const PROXY_LOG_DIR = '/var/log/berth-egress';
export const INHIBIT_HOST_ADDRESS = 'com.docker.network.bridge.inhibit_ipv4';

/**
 * The proxy runs unprivileged, as the agent's user (its logs belong to the repository's owner), or as
 * nobody when that is root.
 */
export function proxyUser(agent: Pick<AgentRecord, 'user'>): { uid: number; gid: number } {
  return agent.user.uid === 0 ? { uid: 65534, gid: 65534 } : agent.user;
}

type Service = Record<string, unknown> & { volumes?: Mount[]; ports?: string[] };
interface Document {
  services: Record<string, Service>;
  networks: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

const readOnly = (source: string, target: string): Mount => ({
  type: 'bind',
  source,
  target,
  read_only: true,
});

/**
 * An agent's compose document put behind its egress proxy: its private network internal and without an
 * address on the host (no route out, not to the host either), each service (Postgres, Redis, those of
 * `services:`) at a fixed address there, no ports of their own; the proxy (`egress`) on it and on an
 * ordinary network (`outside`, the agent's second subnet), publishing their ports and the app ports to
 * the host through its forwarders. The
 * agent resolves only what its own /etc/hosts names.
 */
export function behindEgress(
  plain: Record<string, unknown>,
  agent: AgentRecord,
  config: BerthConfig,
  files: EgressFiles,
): Record<string, unknown> {
  const document = structuredClone(plain) as Document;
  const addresses = addressesOf(agent);
  const labels = agent.labels;
  const at = (address: string) => ({ private: { ipv4_address: address } });
  const { ports: _agentPorts, ...agentService } = document.services.agent ?? {};
  document.services.agent = {
    ...agentService,
    hostname: agent.name,
    volumes: [
      ...(agentService.volumes ?? []),
      readOnly(files.hosts, '/etc/hosts'),
      readOnly(files.resolvConf, '/etc/resolv.conf'),
    ],
    networks: at(addresses.agent),
    depends_on: [...((agentService.depends_on as string[] | undefined) ?? []), 'egress'],
  };
  const placed: Array<[string, string]> = [
    ['postgres', addresses.postgres],
    ['redis', addresses.redis],
    ...Object.entries(addresses.services),
  ];
  for (const [service, address] of placed) {
    const spec = document.services[service];
    if (!spec) continue;
    const { ports: _ports, ...rest } = spec;
    document.services[service] = { ...rest, networks: at(address) };
  }
  const user = proxyUser(agent);
  document.services.egress = {
    image: agent.images.egress,
    init: true,
    user: `${user.uid}:${user.gid}`,
    volumes: [
      readOnly(files.confDir, PROXY_CONF_DIR),
      { type: 'bind', source: files.logDir, target: PROXY_LOG_DIR },
    ],
    ports: publishedPorts(agent).map((port) => `127.0.0.1:${port.hostPort}:${port.listenPort}`),
    // The outside network first: the engine publishes ports on the network that has the way out.
    networks: {
      outside: { ipv4_address: addresses.proxyOutside },
      private: { ipv4_address: addresses.proxy },
    },
    labels,
    restart: config.restart,
    security_opt: ['no-new-privileges:true'],
    cap_drop: ['ALL'],
    mem_limit: '256m',
    pids_limit: 256,
  };
  document.networks = {
    private: {
      ...document.networks.private,
      internal: true,
      driver_opts: { [INHIBIT_HOST_ADDRESS]: 'true' },
    },
    outside: {
      driver: 'bridge',
      labels,
      ipam: { config: [{ subnet: agent.publishSubnet }] },
    },
  };
  return document;
}
