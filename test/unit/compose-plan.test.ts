import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { type HostFacts, planCompose, renderCompose } from '../../src/plan/compose.js';
import { agentEnv, renderEnvFile } from '../../src/plan/env.js';
import { agentFixture } from '../helpers/agent-fixture.js';

/** A dollar sign: compose's own ${...} in a template string. */
const D = '$';

/** The parts of a planned compose document these tests read. */
type PlannedDocument = {
  services: Record<string, { depends_on?: string[]; environment?: Record<string, string> }>;
  volumes: Record<string, unknown>;
};

const host: HostFacts = {
  commonGitDir: '/src/app/.git',
  berthDir: '/src/app/.git/berth',
  caBundle: '/etc/ssl/certs/ca-certificates.crt',
  gitIdentity: { name: 'Dev', email: 'dev@example.com' },
};
const config = parseConfig(
  'ports: { app: { web: 3000 } }\nagent: { resources: { cpus: 1.5, memory: 1g, pids: 256 } }',
);
// biome-ignore lint/suspicious/noExplicitAny: the document is plain data
const doc = planCompose(agentFixture(), config, host) as any;

describe('the compose document', () => {
  it('has the agent, postgres and redis services and nothing Compose v1 rejects', () => {
    expect(Object.keys(doc.services)).toEqual(['agent', 'postgres', 'redis']);
    expect(doc.name).toBeUndefined();
    expect(doc.include).toBeUndefined();
    for (const service of Object.values(doc.services) as Array<Record<string, unknown>>) {
      expect(service.healthcheck).toBeUndefined();
      for (const port of (service.ports as string[]) ?? []) expect(port).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it('publishes each service on 127.0.0.1 at its leased port', () => {
    expect(doc.services.postgres.ports).toEqual(['127.0.0.1:20000:5432']);
    expect(doc.services.redis.ports).toEqual(['127.0.0.1:20001:6379']);
    expect(doc.services.agent.ports).toEqual(['127.0.0.1:20002:3000']);
  });

  it('puts every service on the private network with its own small subnet', () => {
    expect(doc.networks.private.ipam.config).toEqual([{ subnet: '10.201.0.0/28' }]);
    for (const service of Object.values(doc.services) as Array<{ networks: unknown }>) {
      expect(service.networks).toEqual({ private: {} });
    }
  });

  it("labels every container, network and volume with berth's labels", () => {
    const labels = {
      'dev.berth.managed': 'true',
      'dev.berth.agent': 'fix-login',
      'dev.berth.repo': '0123456789',
    };
    for (const service of Object.values(doc.services) as Array<{ labels: unknown }>)
      expect(service.labels).toEqual(labels);
    expect(doc.networks.private.labels).toEqual(labels);
    expect(doc.volumes.pgdata.labels).toEqual(labels);
    expect(doc.volumes.redisdata.labels).toEqual(labels);
  });

  it('runs the agent as the repository owner, in the worktree, with git and CA settings and limits', () => {
    const agent = doc.services.agent;
    expect(agent.user).toBe('1000:1000');
    expect(agent.working_dir).toBe('/src/app.worktrees/fix-login');
    expect(agent.init).toBe(true);
    expect(agent.volumes).toEqual([
      { type: 'bind', source: '/src/app.worktrees/fix-login', target: '/src/app.worktrees/fix-login' },
      { type: 'bind', source: '/src/app/.git', target: '/src/app/.git' },
      // What git on the host would run (config, hooks, submodules' git folders, info/): never the agent's to write.
      { type: 'bind', source: '/src/app/.git/config', target: '/src/app/.git/config', read_only: true },
      { type: 'bind', source: '/src/app/.git/hooks', target: '/src/app/.git/hooks', read_only: true },
      { type: 'bind', source: '/src/app/.git/info', target: '/src/app/.git/info', read_only: true },
      { type: 'bind', source: '/src/app/.git/modules', target: '/src/app/.git/modules', read_only: true },
      {
        type: 'bind',
        source: '/etc/ssl/certs/ca-certificates.crt',
        target: '/etc/berth/host-ca.crt',
        read_only: true,
      },
      { type: 'tmpfs', target: '/src/app/.git/berth' },
      { type: 'tmpfs', target: '/run/secrets' },
    ]);
    expect(agent.security_opt).toEqual(['no-new-privileges:true']);
    expect([agent.cpus, agent.mem_limit, agent.pids_limit]).toEqual([1.5, '1g', 256]);
    expect(agent.environment).toMatchObject({
      DATABASE_URL: 'postgres://app:pgpass@postgres:5432/app',
      REDIS_URL: 'redis://:redispass@redis:6379',
      PORT: '3000',
      GIT_CONFIG_KEY_0: 'gc.auto',
      GIT_CONFIG_VALUE_0: '0',
      NODE_EXTRA_CA_CERTS: '/etc/berth/host-ca.crt',
      SSL_CERT_FILE: '/etc/berth/host-ca.crt',
      GIT_SSL_CAINFO: '/etc/berth/host-ca.crt',
      GIT_AUTHOR_EMAIL: 'dev@example.com',
    });
    expect(JSON.stringify(agent)).not.toContain('docker.sock');
  });

  it('drops redis when it is disabled', () => {
    // biome-ignore lint/suspicious/noExplicitAny: plain data
    const noRedis = planCompose(agentFixture({ redisEnabled: false }), config, host) as any;
    expect(Object.keys(noRedis.services)).toEqual(['agent', 'postgres']);
    expect(noRedis.services.agent.environment.REDIS_URL).toBeUndefined();
  });

  it('drops postgres when it is disabled: no service, volume, port, URL or PG variables', () => {
    const noPostgres = planCompose(
      agentFixture({ postgresEnabled: false, ports: { redis: 20001, web: 20002 } }),
      config,
      host,
    ) as unknown as PlannedDocument;
    expect(Object.keys(noPostgres.services)).toEqual(['agent', 'redis']);
    expect(noPostgres.services.agent?.depends_on).toEqual(['redis']);
    expect(noPostgres.volumes.pgdata).toBeUndefined();
    const env = noPostgres.services.agent?.environment ?? {};
    expect(Object.keys(env).filter((key) => /^(DATABASE_URL|PG)/.test(key))).toEqual([]);
    expect(env.REDIS_URL).toBe('redis://:redispass@redis:6379');
  });

  it('makes a light environment (no postgres, no redis) of the agent container alone', () => {
    const light = planCompose(
      agentFixture({ postgresEnabled: false, redisEnabled: false, ports: { web: 20002 } }),
      config,
      host,
    ) as unknown as PlannedDocument;
    expect(Object.keys(light.services)).toEqual(['agent']);
    expect(light.services.agent?.depends_on).toBeUndefined();
    expect(light.volumes).toEqual({});
    expect(
      agentEnv(agentFixture({ postgresEnabled: false, redisEnabled: false }), 'host'),
    ).not.toHaveProperty('DATABASE_URL');
  });

  it('renders YAML without anchors, quoting what YAML 1.1 (Compose v1) would read as booleans', () => {
    expect(renderCompose(doc)).not.toMatch(/[&*]a\d/);
    const noRestart = planCompose(agentFixture(), parseConfig('restart: "no"'), host);
    expect(renderCompose(noRestart)).toContain('restart: "no"');
  });

  it("writes each $ as Compose's $$, so Compose fills nothing in from its own environment", () => {
    const literal = planCompose(
      agentFixture(),
      parseConfig(`agent:\n  env:\n    L: "a$$b ${D}{HOME} $X"\n`),
      host,
    );
    const text = renderCompose(literal);
    expect(text).toContain('L: a$$$$b $${HOME} $$X');
    expect(text.replaceAll('$$', '')).not.toContain('$');
  });
});

describe('the env files', () => {
  it('gives the host 127.0.0.1 URLs and leased ports', () => {
    const env = agentEnv(agentFixture(), 'host');
    expect(env).toMatchObject({
      DATABASE_URL: 'postgres://app:pgpass@127.0.0.1:20000/app',
      REDIS_URL: 'redis://:redispass@127.0.0.1:20001',
      PORT: '20002',
      BERTH_PORT_WEB: '20002',
    });
    expect(renderEnvFile(env, 'header').split('\n')[0]).toBe('# header');
  });
});
