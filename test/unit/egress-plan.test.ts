import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { planCompose } from '../../src/plan/compose.js';
import {
  egressAddresses,
  egressListProblems,
  parseEgressEntry,
  parseEgressList,
  planAgentHosts,
  planForwards,
  planSquidConf,
  proxyEnv,
  publishedPorts,
  renderForwards,
  squidLogFormat,
} from '../../src/plan/egress.js';
import { behindEgress, INHIBIT_HOST_ADDRESS, proxyUser } from '../../src/plan/egress-compose.js';
import { planEngineStack } from '../../src/plan/engine-stack.js';
import { agentEnv } from '../../src/plan/env.js';
import { configuredServices } from '../../src/plan/services.js';
import { agentFixture } from '../helpers/agent-fixture.js';

const agent = agentFixture({
  egress: true,
  publishSubnet: '10.201.0.16/28',
  images: {
    agent: 'node:24-bookworm',
    postgres: 'postgres:17',
    redis: 'redis:7',
    egress: 'berth-offline/egress:bookworm',
  },
});
const entries = parseEgressList(['*.example.com', 'api.example.org', 'git.example.net:22']);

function squid(overrides: Partial<Parameters<typeof planSquidConf>[0]> = {}) {
  return planSquidConf({
    agent: 'fix-login',
    entries,
    addresses: egressAddresses(agent.subnet, agent.publishSubnet ?? ''),
    hostAddresses: ['192.0.2.2', '10.0.0.7'],
    berthSubnets: ['10.201.0.0/16', '10.201.0.32/28', '198.18.0.0/24'],
    logDir: '/var/log/berth-egress',
    ...overrides,
  });
}

/** The http_access rules of a squid.conf, in order. */
const rules = (conf: string) => conf.split('\n').filter((line) => line.startsWith('http_access'));
const acl = (conf: string, name: string) =>
  conf.split('\n').find((line) => line.startsWith(`acl ${name} `)) ?? '';

describe('network.egress.allow entries', () => {
  it('parses names, wildcards and host:port, lowercased', () => {
    expect(parseEgressEntry('API.Example.org')).toEqual({
      text: 'api.example.org',
      kind: 'name',
      host: 'api.example.org',
    });
    expect(parseEgressEntry('*.example.com')).toEqual({
      text: '*.example.com',
      kind: 'wildcard',
      host: 'example.com',
    });
    expect(parseEgressEntry('git.example.net:22')).toEqual({
      text: 'git.example.net:22',
      kind: 'name',
      host: 'git.example.net',
      port: 22,
    });
  });

  it.each([
    ['*', /everything/],
    ['', /everything/],
    ['10.0.0.1', /IP address/],
    ['10.0.0.1:443', /IP address/],
    ['[::1]:443', /IP address/],
    ['fe80::1', /IP address/],
    ['https://example.com', /without scheme/],
    ['example.com/path', /without scheme/],
    ['example.com:0', /not a port/],
    ['example.com:70000', /not a port/],
    ['example.com:ssh', /not a port/],
    ['*.com', /top-level domain/],
    ['a.*.example.com', /not a host name/],
    ['-bad.example.com', /not a host name/],
    ['exa mple.com', /not a host name/],
  ])('refuses %j', (entry, problem) => {
    expect(parseEgressEntry(entry)).toMatch(problem);
  });

  it('refuses two names forwarded on one port, and the proxy`s own port', () => {
    expect(egressListProblems(['a.example.net:22', 'b.example.net:22'])).toEqual([
      expect.stringMatching(/a\.example\.net:22 and b\.example\.net:22: one name per port/),
    ]);
    expect(egressListProblems(['a.example.net:3128'])).toEqual([expect.stringMatching(/proxy's own/)]);
    expect(egressListProblems(['a.example.net:22', 'a.example.net:22', '*.example.net:22'])).toEqual([]);
  });

  it('reports bad entries and cross-field problems as config errors naming the field', () => {
    expect(() => parseConfig('network: { egress: { allow: ["10.1.2.3"] } }')).toThrow(/bad field/);
    try {
      parseConfig('network: { egress: { allow: ["10.1.2.3"] } }');
    } catch (error) {
      expect((error as { details: string[] }).details).toEqual([
        'network.egress.allow.0: an IP address: list names (the proxy resolves them itself)',
      ]);
    }
    for (const [yaml, detail] of [
      ['network: { outbound: false, egress: { allow: [] } }', /needs outbound true/],
      ['network: { egress: { allow: [] } }\npool: { size: 2 }', /warm pool/],
      ['network: { egress: { allow: ["a.example.net:22", "b.example.net:22"] } }', /one name per port/],
    ] as const) {
      try {
        parseConfig(yaml);
        expect.unreachable();
      } catch (error) {
        expect((error as { details: string[] }).details.join('\n')).toMatch(detail);
      }
    }
    expect(parseConfig('network: { egress: { allow: [] } }').network.egress).toEqual({ allow: [] });
    expect(parseConfig('').network.egress).toBeUndefined();
  });
});

describe('the squid.conf of an agent', () => {
  const conf = squid();

  it('listens on the agent`s network and its own loopback only, and serves the agent alone (not its Postgres or Redis)', () => {
    expect(conf).toMatch(/^http_port 10\.201\.0\.4:3128$/m);
    expect(conf).toMatch(/^http_port 127\.0\.0\.1:3128$/m);
    expect(conf.match(/^http_port/gm)).toHaveLength(2);
    expect(acl(conf, 'from_agent')).toBe('acl from_agent src 10.201.0.5/32 127.0.0.1/32');
  });

  it('checks who asks, an IP destination and the list before any lookup, then addresses, then allows', () => {
    const order = rules(conf);
    expect(order.slice(0, 3)).toEqual([
      'http_access deny !from_agent mark_not_agent',
      'http_access deny ip_literal mark_ip_literal',
      'http_access deny !listed mark_not_listed',
    ]);
    const firstAllow = order.findIndex((rule) => rule.startsWith('http_access allow'));
    const lastRefusal = order.findLastIndex((rule) => rule.includes('to_refused'));
    expect(lastRefusal).toBeLessThan(firstAllow);
    expect(order.at(-1)).toBe('http_access deny all mark_not_listed');
    // The name ACLs never look a name up (-n): only a listed name is ever resolved (by `dst`).
    expect(acl(conf, 'e0_host')).toBe('acl e0_host dstdom_regex -n -i \\.example\\.com$');
    expect(acl(conf, 'e1_host')).toBe('acl e1_host dstdomain -n api.example.org');
    expect(acl(conf, 'e2_host')).toBe('acl e2_host dstdomain -n git.example.net');
  });

  it('allows a name on 80 and 443, a host:port on its port only, and logs the entry that allowed it', () => {
    expect(acl(conf, 'e1_port')).toBe('acl e1_port port 80 443');
    expect(acl(conf, 'e2_port')).toBe('acl e2_port port 22');
    expect(acl(conf, 'mark_e0')).toBe(
      'acl mark_e0 annotate_transaction berth_decision=allowed berth_reason=listed:*.example.com',
    );
    expect(rules(conf).filter((rule) => rule.startsWith('http_access allow'))).toEqual([
      'http_access allow e0 mark_e0',
      'http_access allow e1 mark_e1',
      'http_access allow e2 mark_e2',
    ]);
  });

  it('refuses loopback, link-local (metadata), private, CGNAT, reserved, the host and berth`s networks, each with its reason', () => {
    const refusals = conf
      .split('\n')
      .filter((line) => /^acl to_refused\d+ dst /.test(line))
      .map((line) => line.replace(/^acl to_refused\d+ dst /, ''));
    const reasons = conf
      .split('\n')
      .filter((line) => /^acl mark_refused\d+ /.test(line))
      .map((line) => /berth_reason=(\S+)/.exec(line)?.[1]);
    expect(reasons).toEqual([
      'loopback-address',
      'link-local-address',
      'private-address',
      'cgnat-address',
      'reserved-address',
      'host-address',
      'berth-network',
    ]);
    expect(refusals[0]).toBe('127.0.0.0/8 ::1');
    expect(refusals[1]).toContain('169.254.0.0/16');
    expect(refusals[2]).toBe('10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7');
    expect(refusals[3]).toBe('100.64.0.0/10');
    // The host's private address is a private one already; its public one is the host's.
    expect(refusals[5]).toBe('192.0.2.2/32');
    // berth's networks in 10/8 are private already: only the one outside the private ranges is left.
    expect(refusals[6]).toBe('198.18.0.0/24');
  });

  it('answers a refused agent with one line that says why', () => {
    expect(conf).toMatch(/^deny_info ERR_BERTH_NOT_LISTED mark_not_listed$/m);
    expect(conf).toMatch(/^deny_info ERR_BERTH_IP_ADDRESS mark_ip_literal$/m);
    expect(conf).toMatch(/^deny_info ERR_BERTH_REFUSED_ADDRESS mark_refused0$/m);
  });

  it('with an empty list refuses everything, still logged', () => {
    const empty = squid({ entries: [] });
    expect(empty).not.toMatch(/acl listed/);
    expect(rules(empty)).toContain('http_access deny all mark_not_listed');
    expect(rules(empty).filter((rule) => rule.includes('allow'))).toEqual([]);
  });

  it('logs each decision as a JSON line of strings, whatever Squid fills in', () => {
    expect(conf).toContain(`logformat berth ${squidLogFormat('fix-login')}`);
    expect(conf).toMatch(/^access_log stdio:\/var\/log\/berth-egress\/access\.log logformat=berth$/m);
    // Each Squid format code, as a value of its own.
    const line = squidLogFormat('fix-login').replace(/%"?\d*(\{[^}]*\})?[<>]?[A-Za-z_]+(\{[^}]*\})?/g, 'x');
    expect(Object.keys(JSON.parse(line))).toEqual([
      'time',
      'agent',
      'method',
      'host',
      'port',
      'decision',
      'reason',
      'status',
      'error',
      'client',
    ]);
  });

  it('keeps nothing: no cache, no memory pools, no version string, no client address sent on', () => {
    for (const line of ['cache deny all', 'memory_pools off', 'forwarded_for delete', 'via off'])
      expect(conf).toMatch(new RegExp(`^${line}$`, 'm'));
  });
});

describe('the agent behind its proxy', () => {
  it('gets fixed addresses on its network: postgres .2, redis .3, the proxy .4, the agent .5', () => {
    expect(egressAddresses('10.201.0.16/28', '10.201.0.32/28')).toEqual({
      postgres: '10.201.0.18',
      redis: '10.201.0.19',
      proxy: '10.201.0.20',
      agent: '10.201.0.21',
      proxyOutside: '10.201.0.34',
      services: {},
    });
  });

  it('resolves its services and the host:port names (at the proxy), nothing else', () => {
    const hosts = planAgentHosts(agent, entries);
    expect(hosts.split('\n').filter((line) => line && !line.startsWith('#'))).toEqual([
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      '10.201.0.5\tfix-login',
      '10.201.0.2\tpostgres',
      '10.201.0.3\tredis',
      '10.201.0.4\tegress',
      '10.201.0.4\tgit.example.net',
    ]);
  });

  it('forwards host:port out through Squid, and the published ports in', () => {
    expect(renderForwards(planForwards(agent, entries)).split('\n')).toEqual([
      // The agent's address alone may use it (10.201.0.5): not its Postgres or Redis.
      'out 10.201.0.4 22 git.example.net 22 10.201.0.5/32',
      'in 10.201.0.18 5432 10.201.0.2 5432',
      'in 10.201.0.18 6379 10.201.0.3 6379',
      'in 10.201.0.18 3000 10.201.0.5 3000',
      '',
    ]);
    const clash = agentFixture({ appPorts: { db: 5432 }, ports: { postgres: 1, redis: 2, db: 3 } });
    expect(publishedPorts(clash).map((port) => port.listenPort)).toEqual([5432, 6379, 40002]);
  });

  it('has the proxy variables in the container`s view only', () => {
    const container = agentEnv(agent, 'container');
    expect(container).toMatchObject(proxyEnv(agent));
    expect(container.HTTPS_PROXY).toBe('http://10.201.0.4:3128');
    expect(container.no_proxy).toBe('localhost,127.0.0.1,::1,postgres,redis');
    expect(agentEnv(agent, 'host').HTTP_PROXY).toBeUndefined();
    expect(agentEnv({ ...agent, egress: undefined }, 'container').HTTP_PROXY).toBeUndefined();
  });

  it('runs the proxy as the agent`s user, or nobody for root', () => {
    expect(proxyUser(agent)).toEqual({ uid: 1000, gid: 1000 });
    expect(proxyUser({ user: { uid: 0, gid: 0 } })).toEqual({ uid: 65534, gid: 65534 });
  });
});

describe('the compose document behind the proxy', () => {
  const config = parseConfig(
    'network: { egress: { allow: ["api.example.org"] } }\nports: { app: { web: 3000 } }',
  );
  const files = {
    confDir: '/b/egress',
    logDir: '/b/logs/egress',
    hosts: '/b/etc/hosts',
    resolvConf: '/b/etc/resolv.conf',
  };
  const host = { commonGitDir: '/src/app/.git', berthDir: '/src/app/.git/berth' };
  // biome-ignore lint/suspicious/noExplicitAny: the document is plain data
  const doc = behindEgress(planCompose(agent, config, host), agent, config, files) as any;

  it('puts the private network out of reach: internal, no address on the host', () => {
    expect(doc.networks.private.internal).toBe(true);
    expect(doc.networks.private.driver_opts).toEqual({ [INHIBIT_HOST_ADDRESS]: 'true' });
    expect(doc.networks.outside.ipam.config).toEqual([{ subnet: '10.201.0.16/28' }]);
    expect(doc.networks.outside.internal).toBeUndefined();
  });

  it('leaves only the proxy on the outside network, publishing every port', () => {
    for (const service of ['agent', 'postgres', 'redis']) {
      expect(Object.keys(doc.services[service].networks)).toEqual(['private']);
      expect(doc.services[service].ports).toBeUndefined();
    }
    expect(doc.services.egress.networks).toEqual({
      outside: { ipv4_address: '10.201.0.18' },
      private: { ipv4_address: '10.201.0.4' },
    });
    expect(doc.services.egress.ports).toEqual([
      '127.0.0.1:20000:5432',
      '127.0.0.1:20001:6379',
      '127.0.0.1:20002:3000',
    ]);
    expect(doc.services.egress.user).toBe('1000:1000');
    expect(doc.services.egress.cap_drop).toEqual(['ALL']);
  });

  it('mounts the agent`s own hosts and resolv.conf read-only', () => {
    expect(doc.services.agent.volumes).toEqual(
      expect.arrayContaining([
        { type: 'bind', source: '/b/etc/hosts', target: '/etc/hosts', read_only: true },
        { type: 'bind', source: '/b/etc/resolv.conf', target: '/etc/resolv.conf', read_only: true },
        { type: 'tmpfs', target: '/run/secrets' },
      ]),
    );
    expect(doc.services.agent.hostname).toBe('fix-login');
  });

  it('becomes Engine API calls with the fixed addresses and the network option', () => {
    const stack = planEngineStack(doc, {
      project: 'p',
      composeFile: '/b/compose.yaml',
      variant: 'v2',
      composeVersion: '2',
    });
    const privateNet = stack.networks.find((network) => network.name === 'p_private');
    expect(privateNet).toMatchObject({ internal: true, options: { [INHIBIT_HOST_ADDRESS]: 'true' } });
    const proxy = stack.containers.find((container) => container.service === 'egress');
    expect(proxy?.options.NetworkingConfig).toEqual({
      EndpointsConfig: {
        p_outside: { Aliases: ['egress'], IPAMConfig: { IPv4Address: '10.201.0.18' } },
        p_private: { Aliases: ['egress'], IPAMConfig: { IPv4Address: '10.201.0.4' } },
      },
    });
    expect(proxy?.options.HostConfig).toMatchObject({ CapDrop: ['ALL'] });
    expect(stack.containers.find((c) => c.service === 'agent')?.options.Hostname).toBe('fix-login');
  });
});

describe('services of services: behind the proxy', () => {
  const config = parseConfig(`network: { egress: { allow: ["api.example.org"] } }
ports: { app: { web: 3000 } }
services:
  memcached: { image: "memcached:1.6", ports: [11211] }
  mariadb: { image: "mariadb:11", ports: [3306, 3307], url: "mysql://\${host}:\${port}/app" }
  worker: { image: example/worker:1 }
`);
  const withServices = agentFixture({
    ...agent,
    ports: {
      postgres: 20000,
      redis: 20001,
      web: 20002,
      mariadb: 20003,
      'mariadb:3307': 20004,
      memcached: 20005,
    },
    services: configuredServices(config),
  });
  const files = {
    confDir: '/b/egress',
    logDir: '/b/logs/egress',
    hosts: '/b/etc/hosts',
    resolvConf: '/b/etc/resolv.conf',
  };
  const host = { commonGitDir: '/src/app/.git', berthDir: '/src/app/.git/berth' };
  // biome-ignore lint/suspicious/noExplicitAny: the document is plain data
  const doc = behindEgress(planCompose(withServices, config, host), withServices, config, files) as any;

  it('gives each a fixed address from .6 up, in the order of their names', () => {
    expect(
      egressAddresses('10.201.0.16/28', '10.201.0.32/28', ['worker', 'mariadb', 'memcached']).services,
    ).toEqual({
      mariadb: '10.201.0.22',
      memcached: '10.201.0.23',
      worker: '10.201.0.24',
    });
    const placed: Array<[string, string]> = [
      ['mariadb', '10.201.0.6'],
      ['memcached', '10.201.0.7'],
      ['worker', '10.201.0.8'],
    ];
    for (const [service, address] of placed) {
      expect(doc.services[service].networks).toEqual({ private: { ipv4_address: address } });
      expect(doc.services[service].ports).toBeUndefined();
    }
  });

  it('names them in the agent`s /etc/hosts and its NO_PROXY', () => {
    const hosts = planAgentHosts(withServices, []).split('\n');
    expect(hosts).toEqual(
      expect.arrayContaining(['10.201.0.6\tmariadb', '10.201.0.7\tmemcached', '10.201.0.8\tworker']),
    );
    const env = agentEnv(withServices, 'container');
    expect(env.NO_PROXY).toBe('localhost,127.0.0.1,::1,postgres,redis,mariadb,memcached,worker');
    expect(env.no_proxy).toBe(env.NO_PROXY);
    // Their variables: by name in the container, through the proxy's published port on the host.
    expect(env.MARIADB_URL).toBe('mysql://mariadb:3306/app');
    expect(agentEnv(withServices, 'host').MARIADB_URL).toBe('mysql://127.0.0.1:20003/app');
  });

  it('publishes every port of theirs to the host through the proxy`s forwarders', () => {
    expect(
      publishedPorts(withServices).map(({ name, hostPort, listenPort, target }) => [
        name,
        hostPort,
        listenPort,
        target,
      ]),
    ).toEqual([
      ['postgres', 20000, 5432, { address: '10.201.0.2', port: 5432 }],
      ['redis', 20001, 6379, { address: '10.201.0.3', port: 6379 }],
      ['mariadb', 20003, 3306, { address: '10.201.0.6', port: 3306 }],
      ['mariadb:3307', 20004, 3307, { address: '10.201.0.6', port: 3307 }],
      ['memcached', 20005, 11211, { address: '10.201.0.7', port: 11211 }],
      ['web', 20002, 3000, { address: '10.201.0.5', port: 3000 }],
    ]);
    expect(doc.services.egress.ports).toEqual([
      '127.0.0.1:20000:5432',
      '127.0.0.1:20001:6379',
      '127.0.0.1:20003:3306',
      '127.0.0.1:20004:3307',
      '127.0.0.1:20005:11211',
      '127.0.0.1:20002:3000',
    ]);
    expect(renderForwards(planForwards(withServices, []))).toContain(
      'in 10.201.0.18 11211 10.201.0.7 11211\n',
    );
  });

  it('leaves them out of the proxy`s users: only the agent`s address may use it', () => {
    const conf = squid({ addresses: egressAddresses(agent.subnet, agent.publishSubnet ?? '', ['mariadb']) });
    expect(acl(conf, 'from_agent')).toBe('acl from_agent src 10.201.0.5/32 127.0.0.1/32');
  });

  it('refuses more services than the subnet has addresses for, naming the prefix', () => {
    const yaml = (prefix: number, count: number) =>
      `network: { subnetPrefix: ${prefix}, egress: { allow: [] } }\nservices:\n${Array.from(
        { length: count },
        (_, i) => `  s${i}: { image: x }\n`,
      ).join('')}`;
    const details = (text: string) => {
      try {
        parseConfig(text);
        return '';
      } catch (error) {
        return (error as { details: string[] }).details.join('\n');
      }
    };
    expect(details(yaml(28, 9))).toBe('');
    expect(details(yaml(28, 10))).toBe(
      "services: behind an egress proxy each service has a fixed address on the agent's /28 network, which has room for 9; lower network.subnetPrefix",
    );
    expect(details(yaml(29, 2))).toMatch(/room for 1;/);
    // Without a proxy nothing is fixed: the same services are fine.
    expect(details(yaml(29, 2).replace(', egress: { allow: [] }', ''))).toBe('');
  });
});
