import type { AgentRecord } from './agent.js';
import { overlaps, parseCidr } from './allocate.js';
import { servicePortNames } from './services.js';

/*
 * The egress allowlist (network.egress): the agent, its Postgres and Redis sit on an internal network
 * whose bridge has no address on the host (no route out, not even to the host), and the only way out is
 * a proxy container on that network and on an ordinary one: Squid, which allows CONNECT and plain HTTP
 * to the listed names and ports only, resolves names itself and refuses addresses that are not the
 * internet's, and logs every decision as a JSON line. socat in the same container forwards listed
 * host:port entries (plain TCP: git over SSH) through Squid's CONNECT, so Squid decides and logs those
 * too, and publishes the agent's ports to the host. Everything here is data: core writes it.
 */

/** One entry of network.egress.allow, parsed. */
export interface EgressEntry {
  /** As written in berth.yaml (lowercased). */
  text: string;
  /** name: exactly that name; wildcard: every name under `host` (not `host` itself). */
  kind: 'name' | 'wildcard';
  host: string;
  /** A listed port; without one, 80 and 443. */
  port?: number;
}

/** The proxy's port on the agent's network (and on its own loopback, for the TCP forwarders). */
export const PROXY_PORT = 3128;
/** Ports a name listed without one may be reached on: plain HTTP and HTTPS. */
export const DEFAULT_EGRESS_PORTS = [80, 443] as const;

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A parsed entry, or what is wrong with it (one phrase, for the config error). */
export function parseEgressEntry(raw: string): EgressEntry | string {
  const text = raw.trim().toLowerCase();
  if (text === '' || text === '*') return 'list names: "*" would allow everything';
  if (text.includes('://') || text.includes('/'))
    return 'a name, a *.wildcard or host:port, without scheme or path';
  if (text.startsWith('[') || text.split(':').length > 2)
    return 'an IP address: list names (the proxy resolves them itself)';
  const colon = text.lastIndexOf(':');
  const hostPart = colon === -1 ? text : text.slice(0, colon);
  const portPart = colon === -1 ? undefined : text.slice(colon + 1);
  let port: number | undefined;
  if (portPart !== undefined) {
    port = /^\d{1,5}$/.test(portPart) ? Number(portPart) : Number.NaN;
    if (!(port >= 1 && port <= 65535)) return `"${portPart}" is not a port (1-65535)`;
  }
  const wildcard = hostPart.startsWith('*.');
  const host = wildcard ? hostPart.slice(2) : hostPart;
  if (/^[0-9.]+$/.test(host)) return 'an IP address: list names (the proxy resolves them itself)';
  const labels = host.split('.');
  if (host.length > 253 || !labels.every((label) => LABEL.test(label)))
    return `"${hostPart}" is not a host name (letters, digits, "-", dots; "*." only in front)`;
  if (wildcard && labels.length < 2)
    return `"${hostPart}" would allow a whole top-level domain: list names under a domain`;
  return { text, kind: wildcard ? 'wildcard' : 'name', host, ...(port !== undefined && { port }) };
}

export function egressEntryProblem(raw: string): string | undefined {
  const parsed = parseEgressEntry(raw);
  return typeof parsed === 'string' ? parsed : undefined;
}

export function parseEgressList(list: readonly string[]): EgressEntry[] {
  return list.flatMap((raw) => {
    const parsed = parseEgressEntry(raw);
    return typeof parsed === 'string' ? [] : [parsed];
  });
}

/** A name:port entry is also forwarded as plain TCP: the name points at the proxy in the agent's /etc/hosts. */
export function tcpEntries(entries: readonly EgressEntry[]): Array<EgressEntry & { port: number }> {
  const seen = new Set<string>();
  return entries.filter((entry): entry is EgressEntry & { port: number } => {
    if (entry.kind !== 'name' || entry.port === undefined) return false;
    const key = `${entry.host}:${entry.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Problems of the list as a whole: what two entries, or an entry and the proxy, cannot share. */
export function egressListProblems(list: readonly string[]): string[] {
  const problems: string[] = [];
  const byPort = new Map<number, string>();
  for (const entry of tcpEntries(parseEgressList(list))) {
    if (entry.port === PROXY_PORT) {
      problems.push(`network.egress.allow: ${entry.text}: port ${PROXY_PORT} is the proxy's own`);
      continue;
    }
    const other = byPort.get(entry.port);
    if (other && other !== entry.host) {
      problems.push(
        `network.egress.allow: ${other}:${entry.port} and ${entry.text}: one name per port is forwarded as plain TCP (each listens on the proxy's address)`,
      );
    } else byPort.set(entry.port, entry.host);
  }
  return problems;
}

/** Addresses that are not the internet's, by why the proxy refuses them. */
export const REFUSED_ADDRESSES: ReadonlyArray<{ reason: string; cidrs: readonly string[] }> = [
  { reason: 'loopback-address', cidrs: ['127.0.0.0/8', '::1'] },
  // 169.254.169.254 is the cloud metadata service.
  { reason: 'link-local-address', cidrs: ['169.254.0.0/16', 'fe80::/10'] },
  { reason: 'private-address', cidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'] },
  { reason: 'cgnat-address', cidrs: ['100.64.0.0/10'] },
  {
    reason: 'reserved-address',
    cidrs: ['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4', '::/128', 'ff00::/8', '::ffff:0:0/96'],
  },
];

/** Where the agent's services are on its private network: fixed, so its /etc/hosts can name them. */
export interface EgressAddresses {
  postgres: string;
  redis: string;
  proxy: string;
  agent: string;
  /** The proxy on its outside network. */
  proxyOutside: string;
  /** Each service of `services:`, by name: .6 up, in the order of their names. */
  services: Record<string, string>;
}

/** The addresses of a subnet the fixed ones leave to `services:` (not .0, the gateway .1, .2 to .5, the last). */
export function egressServiceRoom(prefix: number): number {
  return Math.max(0, 2 ** (32 - prefix) - 7);
}

function ipv4(cidr: string, offset: number): string {
  const [base = '0.0.0.0'] = cidr.split('/');
  const value = base.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0) + offset;
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/**
 * .1 is the network's gateway (which has no address on the host): Postgres, Redis, the proxy and the
 * agent take .2 to .5, the services of `services:` .6 up (serviceProblems checks they fit the subnet).
 */
export function egressAddresses(
  subnet: string,
  outsideSubnet: string,
  services: readonly string[] = [],
): EgressAddresses {
  return {
    postgres: ipv4(subnet, 2),
    redis: ipv4(subnet, 3),
    proxy: ipv4(subnet, 4),
    agent: ipv4(subnet, 5),
    proxyOutside: ipv4(outsideSubnet, 2),
    services: Object.fromEntries(
      [...services].sort().map((service, index) => [service, ipv4(subnet, 6 + index)]),
    ),
  };
}

type Placed = Pick<AgentRecord, 'subnet' | 'publishSubnet'> & Partial<Pick<AgentRecord, 'services'>>;

export function addressesOf(agent: Placed): EgressAddresses {
  return egressAddresses(
    agent.subnet,
    agent.publishSubnet ?? agent.subnet,
    Object.keys(agent.services ?? {}),
  );
}

/** The proxy variables the agent's container (and its env file) carries: npm, pip, git, curl, Node use them. */
export function proxyEnv(agent: Placed): Record<string, string> {
  const addresses = addressesOf(agent);
  const url = `http://${addresses.proxy}:${PROXY_PORT}`;
  // The agent's own services are reached directly, by name, never through the proxy.
  const noProxy = [
    'localhost',
    '127.0.0.1',
    '::1',
    'postgres',
    'redis',
    ...Object.keys(addresses.services),
  ].join(',');
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    NO_PROXY: noProxy,
    http_proxy: url,
    https_proxy: url,
    no_proxy: noProxy,
    // Node 24's fetch and http honour the variables only when asked.
    NODE_USE_ENV_PROXY: '1',
  };
}

/** What the proxy's configuration is made from. */
export interface SquidInput {
  agent: string;
  entries: readonly EgressEntry[];
  addresses: EgressAddresses;
  /** The host's own addresses. */
  hostAddresses: readonly string[];
  /** berth's networks (other agents', pool members') and the configured subnet pool. */
  berthSubnets: readonly string[];
  /** In the proxy container: where squid.conf's logs go. */
  logDir: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;
const asCidr = (address: string) => (address.includes('/') ? address : `${address}/32`);
const within = (inner: string, outer: string) =>
  parseCidr(inner).prefix >= parseCidr(outer).prefix && overlaps(inner, outer);

/**
 * Each refusal's addresses without those an earlier one (or a larger one of its own) covers: Squid
 * warns of, and ignores, a subnet inside another. A refusal left with none goes.
 */
function withoutCovered(
  refusals: ReadonlyArray<{ reason: string; cidrs: readonly string[] }>,
): Array<{ reason: string; cidrs: string[] }> {
  const kept: string[] = [];
  return refusals
    .map(({ reason, cidrs }) => {
      const v4 = unique(cidrs.filter((cidr) => IPV4.test(cidr)).map(asCidr)).sort(
        (a, b) => parseCidr(a).prefix - parseCidr(b).prefix,
      );
      const mine: string[] = [];
      for (const cidr of v4) {
        if (kept.some((other) => within(cidr, other))) continue;
        kept.push(cidr);
        mine.push(cidr);
      }
      const v6 = unique(cidrs.filter((cidr) => !IPV4.test(cidr)));
      return { reason, cidrs: [...mine, ...v6] };
    })
    .filter((refusal) => refusal.cidrs.length > 0);
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const unique = (items: readonly string[]) => [...new Set(items)];

/** The JSON line of every decision; every value a string, so the line is JSON whatever Squid fills in. */
export function squidLogFormat(agent: string): string {
  const fields = [
    ['time', '%{%Y-%m-%dT%H:%M:%S}tg.%03tuZ'],
    ['agent', agent],
    ['method', '%"rm'],
    ['host', '%">rd'],
    ['port', '%">rP'],
    ['decision', '%"{berth_decision}note'],
    ['reason', '%"{berth_reason}note'],
    ['status', '%>Hs'],
    ['error', '%"err_code'],
    ['client', '%>a'],
  ];
  return `{${fields.map(([key, value]) => `"${key}":"${value}"`).join(',')}}`;
}

/**
 * squid.conf for one agent. The order of the http_access rules is the policy: refuse anyone but the
 * agent, an IP address as the destination, and any name or port not listed (before any lookup, so the
 * proxy never resolves a name that is not listed: lookups cannot carry data out); then resolve the
 * listed name and refuse it if any of its addresses is not the internet's; then allow it.
 */
export function planSquidConf(input: SquidInput): string {
  const { entries, addresses } = input;
  const mark = (name: string, decision: 'allowed' | 'refused', reason: string) =>
    `acl ${name} annotate_transaction berth_decision=${decision} berth_reason=${reason}`;
  const lines = [
    `# berth: the egress proxy of agent ${input.agent}; generated (berth egress reload rewrites it)`,
    `http_port ${addresses.proxy}:${PROXY_PORT}`,
    `http_port 127.0.0.1:${PROXY_PORT}`,
    'visible_hostname berth-egress',
    'pid_filename /tmp/berth-egress-squid.pid',
    'coredump_dir /tmp',
    `cache_log stdio:${input.logDir}/cache.log`,
    'cache deny all',
    'cache_mem 0 MB',
    'memory_pools off',
    'pinger_enable off',
    'netdb_filename none',
    'shutdown_lifetime 1 seconds',
    'logfile_rotate 0',
    'max_filedescriptors 1024',
    'via off',
    'forwarded_for delete',
    'httpd_suppress_version_string on',
    '',
    `logformat berth ${squidLogFormat(input.agent)}`,
    `access_log stdio:${input.logDir}/access.log logformat=berth`,
    '',
    // Who may use it: the agent's address alone, not its Postgres or Redis (which have no route out),
    // and the proxy's loopback, where its own TCP forwarders connect from.
    `acl from_agent src ${addresses.agent}/32 127.0.0.1/32`,
    mark('mark_not_agent', 'refused', 'not-the-agent'),
    String.raw`acl ip_literal dstdom_regex -n ^[0-9.]+$ ^\[.*\]$`,
    mark('mark_ip_literal', 'refused', 'ip-address'),
    mark('mark_not_listed', 'refused', 'not-listed'),
  ];
  entries.forEach((entry, index) => {
    const acl = `e${index}`;
    lines.push(
      entry.kind === 'name'
        ? `acl ${acl}_host dstdomain -n ${entry.host}`
        : `acl ${acl}_host dstdom_regex -n -i ${escapeRegex(`.${entry.host}`)}$`,
      `acl ${acl}_port port ${entry.port ?? DEFAULT_EGRESS_PORTS.join(' ')}`,
      `acl ${acl} all-of ${acl}_host ${acl}_port`,
      mark(`mark_${acl}`, 'allowed', `listed:${entry.text}`),
    );
  });
  if (entries.length > 0) lines.push(`acl listed any-of ${entries.map((_, i) => `e${i}`).join(' ')}`);
  const refusals = withoutCovered([
    ...REFUSED_ADDRESSES,
    { reason: 'host-address', cidrs: input.hostAddresses },
    { reason: 'berth-network', cidrs: input.berthSubnets },
  ]);
  refusals.forEach((refusal, index) => {
    lines.push(
      `acl to_refused${index} dst ${refusal.cidrs.join(' ')}`,
      mark(`mark_refused${index}`, 'refused', refusal.reason),
    );
  });
  lines.push(
    '',
    // What the agent reads when refused: a line that says why (the pages are in the proxy's image).
    'deny_info ERR_BERTH_NOT_AGENT mark_not_agent',
    'deny_info ERR_BERTH_IP_ADDRESS mark_ip_literal',
    'deny_info ERR_BERTH_NOT_LISTED mark_not_listed',
    ...refusals.map((_, index) => `deny_info ERR_BERTH_REFUSED_ADDRESS mark_refused${index}`),
    '',
    'http_access deny !from_agent mark_not_agent',
    'http_access deny ip_literal mark_ip_literal',
    entries.length > 0 ? 'http_access deny !listed mark_not_listed' : 'http_access deny all mark_not_listed',
    ...refusals.map((_, index) => `http_access deny to_refused${index} mark_refused${index}`),
    ...entries.map((_, index) => `http_access allow e${index} mark_e${index}`),
    'http_access deny all mark_not_listed',
    '',
  );
  return lines.join('\n');
}

/** One socat the proxy container runs: a listed host:port out through Squid, or a host port in. */
export type Forward =
  | {
      kind: 'out';
      listen: { address: string; port: number };
      host: string;
      port: number;
      /** The one address it answers (the agent's): Postgres and Redis, beside it, are refused. */
      from: string;
    }
  | { kind: 'in'; listen: { address: string; port: number }; target: { address: string; port: number } };

/**
 * The proxy's forwarders, one per line, as its entrypoint reads them: `out ADDRESS PORT HOST PORT FROM`
 * (FROM the one client address it serves, socat's `range`) or `in ADDRESS PORT HOST PORT`.
 */
export function renderForwards(forwards: readonly Forward[]): string {
  const lines = forwards.map((forward) =>
    forward.kind === 'out'
      ? `out ${forward.listen.address} ${forward.listen.port} ${forward.host} ${forward.port} ${forward.from}/32`
      : `in ${forward.listen.address} ${forward.listen.port} ${forward.target.address} ${forward.target.port}`,
  );
  return `${lines.join('\n')}\n`;
}

/** The host ports an agent behind the proxy publishes, each forwarded to its service on the private network. */
export interface PublishedPort {
  /** The leased port's name: postgres, redis, a service's of `services:` (servicePortNames), or an app port's. */
  name: string;
  hostPort: number;
  /** Where the proxy listens for it on its outside network. */
  listenPort: number;
  target: { address: string; port: number };
}

/**
 * Postgres, Redis, the ports of `services:` and the app ports, as the proxy publishes them: each listens
 * on its own port unless an earlier one took it (an app port of 5432), then on one from 40000 up.
 */
export function publishedPorts(agent: AgentRecord): PublishedPort[] {
  const addresses = addressesOf(agent);
  const services = Object.entries(agent.services ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const targets: Array<{ name: string; address: string; port: number }> = [
    { name: 'postgres', address: addresses.postgres, port: 5432 },
    ...(agent.redisEnabled ? [{ name: 'redis', address: addresses.redis, port: 6379 }] : []),
    ...services.flatMap(([service, spec]) => {
      const names = servicePortNames(service, spec.ports);
      const address = addresses.services[service] as string;
      return spec.ports.map((port, index) => ({ name: names[index] as string, address, port }));
    }),
    ...Object.entries(agent.appPorts).map(([name, port]) => ({ name, address: addresses.agent, port })),
  ];
  const taken = new Set<number>();
  return targets.flatMap((target, index) => {
    const hostPort = agent.ports[target.name];
    if (hostPort === undefined) return [];
    const listenPort = taken.has(target.port) ? 40000 + index : target.port;
    taken.add(listenPort);
    return [
      {
        name: target.name,
        hostPort,
        listenPort,
        target: { address: target.address, port: target.port },
      },
    ];
  });
}

export function planForwards(agent: AgentRecord, entries: readonly EgressEntry[]): Forward[] {
  const addresses = addressesOf(agent);
  return [
    ...tcpEntries(entries).map(
      (entry): Forward => ({
        kind: 'out',
        listen: { address: addresses.proxy, port: entry.port },
        host: entry.host,
        port: entry.port,
        from: addresses.agent,
      }),
    ),
    ...publishedPorts(agent).map(
      (port): Forward => ({
        kind: 'in',
        listen: { address: addresses.proxyOutside, port: port.listenPort },
        target: port.target,
      }),
    ),
  ];
}

/**
 * The agent's /etc/hosts: its services by name, and each name listed with a port pointing at the proxy
 * (whose forwarder for that port goes out through Squid). The agent resolves nothing else.
 */
export function planAgentHosts(agent: AgentRecord, entries: readonly EgressEntry[]): string {
  const addresses = addressesOf(agent);
  const lines = [
    '# berth: the agent resolves these names and nothing else; generated',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${addresses.agent}\t${agent.name}`,
    `${addresses.postgres}\tpostgres`,
    ...(agent.redisEnabled ? [`${addresses.redis}\tredis`] : []),
    ...Object.entries(addresses.services).map(([service, address]) => `${address}\t${service}`),
    `${addresses.proxy}\tegress`,
    ...unique(tcpEntries(entries).map((entry) => entry.host)).map((host) => `${addresses.proxy}\t${host}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The agent's resolv.conf: a name server that is not there, so a lookup of anything outside /etc/hosts
 * fails at once (the engine's own resolver, which the agent does not use, would wait seconds).
 */
export const AGENT_RESOLV_CONF =
  '# berth: no name server; the agent resolves only what its /etc/hosts names\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n';
