import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { newPasswords } from '../../src/plan/agent.js';
import { type HostFacts, planCompose, stackReadiness } from '../../src/plan/compose.js';
import { planEngineStack } from '../../src/plan/engine-stack.js';
import { agentEnv } from '../../src/plan/env.js';
import { SERVICE_STAND_INS, standInFor } from '../../src/plan/images.js';
import {
  configuredServices,
  randomKey,
  randomKeys,
  serviceLeaseNames,
  stackChanges,
  startOrder,
  variablePrefix,
} from '../../src/plan/services.js';
import { agentFixture } from '../helpers/agent-fixture.js';

const host: HostFacts = { commonGitDir: '/src/app/.git', berthDir: '/src/app/.git/berth' };

const YAML = `services:
  mariadb:
    image: mariadb:11
    command: --skip-log-bin --character-set-server=utf8mb4
    env:
      MARIADB_DATABASE: app
      MARIADB_USER: app
      MARIADB_PASSWORD: "\${random}"
      DSN: "\${host}:\${port}/\${env.MARIADB_DATABASE}"
    ports: [3306, 3307]
    volumes: [/var/lib/mysql]
    mounts: [{ source: db/init, path: /docker-entrypoint-initdb.d, readOnly: true }]
    url: "mysql://app:\${env.MARIADB_PASSWORD}@\${host}:\${port}/app"
  search-engine:
    image: example/search:1
    ports: [9200]
    ready: { http: /health }
    data: durable
    volumes: [/data]
    dependsOn: [mariadb]
  mail:
    image: example/mail:1
    ready: { command: [mail-ready] }
    dependsOn: [search-engine]
`;

const config = parseConfig(YAML);
const services = configuredServices(config);
const passwords = { postgres: 'pgpass', redis: 'redispass', 'mariadb.MARIADB_PASSWORD': 'r'.repeat(24) };
const agent = agentFixture({
  ports: {
    postgres: 20000,
    redis: 20001,
    web: 20002,
    mariadb: 20003,
    'mariadb:3307': 20004,
    'search-engine': 20005,
  },
  passwords,
  services,
});
// biome-ignore lint/suspicious/noExplicitAny: the document is plain data
const doc = planCompose(agent, config, host) as any;

/** A config's one-line problems, or [] when it is valid. */
function problems(yaml: string): string[] {
  try {
    parseConfig(yaml);
    return [];
  } catch (error) {
    return (error as { details?: string[] }).details ?? [String(error)];
  }
}

describe('services: the plan', () => {
  it('gives each service a compose entry beside Postgres and Redis, dependencies first', () => {
    expect(Object.keys(doc.services)).toEqual([
      'agent',
      'postgres',
      'redis',
      'mariadb',
      'search-engine',
      'mail',
    ]);
    expect(startOrder(services)).toEqual(['mariadb', 'search-engine', 'mail']);
    expect(doc.services.agent.depends_on).toEqual(['postgres', 'redis', 'mail', 'mariadb', 'search-engine']);
    expect(doc.services['search-engine'].depends_on).toEqual(['mariadb']);
  });

  it('runs each like Postgres: its image, the private network, labels, restart policy, no-new-privileges', () => {
    const mariadb = doc.services.mariadb;
    expect(mariadb.image).toBe('mariadb:11');
    expect(mariadb.command).toEqual(['--skip-log-bin', '--character-set-server=utf8mb4']);
    expect(mariadb.networks).toEqual({ private: {} });
    expect(mariadb.labels).toEqual(doc.services.postgres.labels);
    expect(mariadb.restart).toBe(doc.services.postgres.restart);
    expect(mariadb.security_opt).toEqual(['no-new-privileges:true']);
    // Limits: the agent holds the service's credentials, so what it makes the service hold is bounded.
    expect([mariadb.mem_limit, mariadb.pids_limit]).toEqual(['1g', 512]);
    expect([doc.services.postgres.mem_limit, doc.services.redis.pids_limit]).toEqual(['1g', 512]);
    expect(mariadb.ports).toEqual(['127.0.0.1:20003:3306', '127.0.0.1:20004:3307']);
    expect(doc.services.mail.ports).toBeUndefined();
  });

  it('keeps ephemeral data in memory and durable data in a named volume per agent; mounts are copies berth keeps', () => {
    expect(doc.services.mariadb.volumes).toEqual([
      { type: 'tmpfs', target: '/var/lib/mysql', tmpfs: { size: 1024 ** 3 } },
      {
        type: 'bind',
        // The worktree's db/init as provision copied it into berth's folder (no container writes there).
        source: '/src/app/.git/berth/agents/fix-login/mounts/mariadb/0',
        target: '/docker-entrypoint-initdb.d',
        read_only: true,
      },
    ]);
    expect(doc.services['search-engine'].volumes).toEqual([
      { type: 'volume', source: 'search-engine-data-0', target: '/data' },
    ]);
    expect(doc.volumes['search-engine-data-0']).toEqual({ labels: agent.labels });
    expect(doc.volumes['mariadb-data-0']).toBeUndefined();
  });

  it('substitutes random, env.NAME, host and port in the service`s own variables', () => {
    expect(doc.services.mariadb.environment).toEqual({
      MARIADB_DATABASE: 'app',
      MARIADB_USER: 'app',
      MARIADB_PASSWORD: 'r'.repeat(24),
      DSN: 'mariadb:3306/app',
    });
  });

  it('gives the agent NAME_HOST, NAME_PORT and NAME_URL: the container`s view and the host`s', () => {
    const container = agentEnv(agent, 'container');
    const onHost = agentEnv(agent, 'host');
    expect(container).toMatchObject({
      MARIADB_HOST: 'mariadb',
      MARIADB_PORT: '3306',
      MARIADB_URL: `mysql://app:${'r'.repeat(24)}@mariadb:3306/app`,
      SEARCH_ENGINE_HOST: 'search-engine',
      SEARCH_ENGINE_PORT: '9200',
      MAIL_HOST: 'mail',
      BERTH_PORT_MARIADB_3307: '20004',
      BERTH_PORT_SEARCH_ENGINE: '20005',
    });
    expect(container.MAIL_PORT).toBeUndefined();
    expect(container.MAIL_URL).toBeUndefined();
    expect(onHost).toMatchObject({
      MARIADB_HOST: '127.0.0.1',
      MARIADB_PORT: '20003',
      MARIADB_URL: `mysql://app:${'r'.repeat(24)}@127.0.0.1:20003/app`,
      SEARCH_ENGINE_PORT: '20005',
    });
    // Postgres's and Redis's variables are as they were.
    expect(container.DATABASE_URL).toBe('postgres://app:pgpass@postgres:5432/app');
    expect(container.REDIS_URL).toBe('redis://:redispass@redis:6379');
    expect(variablePrefix('search-engine')).toBe('SEARCH_ENGINE');
  });

  it('leases a host port per container port, and one random value per variable that asks for one', () => {
    expect(serviceLeaseNames(services)).toEqual(['mariadb', 'mariadb:3307', 'search-engine']);
    expect(randomKeys(services)).toEqual([randomKey('mariadb', 'MARIADB_PASSWORD')]);
    let calls = 0;
    const drawn = newPasswords((size) => Buffer.alloc(size, ++calls), randomKeys(services));
    expect(Object.keys(drawn)).toEqual(['postgres', 'redis', 'mariadb.MARIADB_PASSWORD']);
    expect(drawn['mariadb.MARIADB_PASSWORD']).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(new Set(Object.values(drawn)).size).toBe(3);
  });

  it('probes each service as its ready says, by default tcp on its first port, else started', () => {
    expect(stackReadiness(agent)).toEqual([
      { name: 'postgres', ready: { kind: 'postgres', url: 'postgres://app:pgpass@127.0.0.1:20000/app' } },
      { name: 'redis', ready: { kind: 'redis', port: 20001, password: 'redispass' } },
      { name: 'mariadb', ready: { kind: 'tcp', port: 3306, hostPort: 20003 } },
      { name: 'search-engine', ready: { kind: 'http', path: '/health', port: 9200, hostPort: 20005 } },
      { name: 'mail', ready: { kind: 'command', command: ['mail-ready'] } },
    ]);
    const bare = configuredServices(parseConfig('services:\n  worker: { image: example/worker:1 }\n'));
    expect(stackReadiness({ ...agent, services: bare }).at(-1)).toEqual({
      name: 'worker',
      ready: { kind: 'started' },
    });
  });

  it('starts a service after those it depends on through the Engine API too', () => {
    const stack = planEngineStack(doc, {
      project: 'p',
      composeFile: '/c.yaml',
      variant: 'v2',
      composeVersion: '2.0.0',
    });
    const after = Object.fromEntries(stack.containers.map((c) => [c.service, c.after]));
    expect(after).toMatchObject({ agent: undefined, mariadb: undefined, 'search-engine': ['mariadb'] });
    expect(after.mail).toEqual(['search-engine']);
  });

  it('knows its stand-ins by image name, any tag', () => {
    expect(standInFor('mariadb:11')).toBe('mariadb');
    expect(standInFor('docker.io/library/memcached:1.6-alpine')).toBe('memcached');
    expect(standInFor('mariadb')).toBe('mariadb');
    expect(standInFor('example/mariadb:11')).toBeUndefined();
    expect(standInFor('mysql:8')).toBeUndefined();
    expect(SERVICE_STAND_INS.mariadb).toBe('berth-offline/mariadb:bookworm');
  });
});

describe('services: refusals, one line each naming the key', () => {
  it.each([
    ['services:\n  postgres: { image: x }\n', 'services.postgres: reserved'],
    [
      'services:\n  db: { image: x, url: "x://a\\nINJECTED=1" }\n',
      'services.db.url: a line break would end its line',
    ],
    ['ports:\n  app: { postgres: 3000 }\n', "ports.app.postgres: the name is Postgres's port's; rename it"],
    ['agent:\n  env: { BERTH_NAME: other }\n', "agent.env.BERTH_NAME: BERTH_ names are berth's own"],
    ['services:\n  database: { image: x }\n', "services.database: its DATABASE_URL would replace Postgres's"],
    [
      'services:\n  berth-cache: { image: x }\n',
      "services.berth-cache: its variables (BERTH_CACHE_HOST, …) would be in berth's own",
    ],
    [
      'services:\n  mc: { image: x, ports: [11211, 3307] }\n  mc-3307: { image: x, ports: [1] }\n',
      "services.mc-3307.ports: BERTH_PORT_MC_3307 would name both its port mc-3307 and services.mc's; rename one",
    ],
    [
      'ports:\n  app: { web_1: 3000 }\nservices:\n  web: { image: x, ports: [80, 1] }\n',
      "services.web.ports: BERTH_PORT_WEB_1 would name both its port web:1 and ports.app.web_1's; rename one",
    ],
    ['services:\n  Bad_Name: { image: x }\n', 'services.Bad_Name: a service name'],
    ['services:\n  db: { ports: [1] }\n', 'services.db.image:'],
    ['services:\n  db: { image: x, extra: 1 }\n', 'services.db.extra: unknown field'],
    [
      'services:\n  db: { image: x, ports: [3306], ready: { tcp: 1 } }\n',
      'services.db.ready.tcp: 1 is not one of its ports',
    ],
    ['services:\n  db: { image: x, ready: { http: /h } }\n', 'services.db.ready.http: it has no ports'],
    ['services:\n  db: { image: x, data: durable }\n', 'services.db.data: durable keeps its volumes'],
    [
      'services:\n  db: { image: x, dependsOn: [cache] }\n',
      'services.db.dependsOn: "cache" is not a service',
    ],
    [
      'services:\n  a: { image: x, dependsOn: [b] }\n  b: { image: x, dependsOn: [a] }\n',
      'services.a.dependsOn: a cycle leads back to a',
    ],
    [
      `services:\n  db: { image: x, env: { A: "\${nope}" } }\n`,
      `services.db.env.A: unknown substitution \${nope}`,
    ],
    [
      `services:\n  db: { image: x, env: { A: "\${env.B}" } }\n`,
      `services.db.env.A: \${env.B} names no variable`,
    ],
    [
      `services:\n  db: { image: x, env: { A: "\${env.B}", B: "\${env.A}" } }\n`,
      `services.db.env.A: \${env.B} leads back to A`,
    ],
    ['services:\n  db: { image: x, mounts: [{ source: /etc, path: /x }] }\n', 'services.db.mounts.0.source:'],
    [
      'services:\n  db: { image: x, mounts: [{ source: a/../../b, path: /x }] }\n',
      'services.db.mounts.0.source:',
    ],
    ['services:\n  db: { image: x, command: "sh -c \'a b\'" }\n', 'services.db.command: a string is split'],
    [
      'ports: { app: { db: 3000 } }\nservices:\n  db: { image: x }\n',
      "services.db: the name is an app port's too",
    ],
    [
      'pool: { size: 1 }\nservices:\n  db: { image: x, mounts: [{ source: db/init, path: /init }] }\n',
      'services.db.mounts: a warm pool member is made before any worktree',
    ],
    [
      'services: { from: docker-compose.yml, only: [db] }\n',
      'services.from: an import is read from a repository`s berth.yaml only',
    ],
  ])('%s', (yaml, expected) => {
    const found = problems(yaml);
    expect(
      found.some((line) => line.startsWith(expected)),
      found.join('\n'),
    ).toBe(true);
  });

  it('accepts services with a warm pool (without mounts) and behind an egress proxy', () => {
    expect(problems('pool: { size: 2 }\nservices:\n  cache: { image: x, ports: [11211] }\n')).toEqual([]);
    expect(
      problems('network: { egress: { allow: [] } }\nservices:\n  cache: { image: x, ports: [11211] }\n'),
    ).toEqual([]);
  });

  it('accepts none at all, and gives the agent nothing more then', () => {
    const plain = parseConfig('');
    expect(configuredServices(plain)).toEqual({});
    const document = planCompose(agentFixture(), plain, host) as { services: Record<string, unknown> };
    expect(Object.keys(document.services)).toEqual(['agent', 'postgres', 'redis']);
  });
});

describe('what a sync does not apply', () => {
  it("names the fields that make the stack where two configs differ, and not the hooks' or the egress list's", () => {
    const made = parseConfig('services:\n  mc: { image: memcached:1.6 }\n');
    expect(
      stackChanges(
        made,
        parseConfig('services:\n  mc: { image: memcached:1.6 }\nhooks: { setup: [make] }\n'),
      ),
    ).toEqual([]);
    expect(
      stackChanges(
        made,
        parseConfig('services:\n  mc: { image: memcached:1.7 }\nredis: { enabled: false }\n'),
      ),
    ).toEqual(['services', 'redis']);
  });
});

describe('services: names whose variables are free', () => {
  it('lets a service be database when there is no Postgres to own DATABASE_URL', () => {
    expect(() =>
      parseConfig('postgres: { enabled: false }\nservices:\n  database: { image: x }\n'),
    ).not.toThrow();
  });
});

describe('services: the README', () => {
  it('shows an example that is a valid berth.yaml', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('### Services: `services:`'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(Object.keys(configuredServices(parseConfig(example, 'the README`s services example')))).toEqual([
      'mariadb',
      'memcached',
    ]);
  });
});
