import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { PREINITIALISED_PGDATA, planCompose } from '../../src/plan/compose.js';
import { containerName, memoryBytes, planEngineStack, startWaves } from '../../src/plan/engine-stack.js';
import { agentFixture } from '../helpers/agent-fixture.js';

const host = { commonGitDir: '/src/app/.git', berthDir: '/src/app/.git/berth' };
const config = parseConfig(
  'ports: { app: { web: 3000 } }\nagent: { resources: { cpus: 1.5, memory: 1g, pids: 256 } }',
);
const input = {
  project: 'berth-0123456789-fix-login',
  composeFile: '/src/app/.git/berth/agents/fix-login/compose.yaml',
  variant: 'v1' as const,
  composeVersion: '1.29.2',
};

describe('the Engine API plan of a compose document', () => {
  const durable = planCompose(agentFixture(), config, host);
  const stack = planEngineStack(durable, input);

  it('names everything as Compose does, so compose ps, logs and down find it', () => {
    expect(stack.networks.map((n) => n.name)).toEqual(['berth-0123456789-fix-login_private']);
    expect(stack.volumes.map((v) => v.name)).toEqual([
      'berth-0123456789-fix-login_pgdata',
      'berth-0123456789-fix-login_redisdata',
    ]);
    expect(stack.containers.map((c) => c.name)).toEqual([
      'berth-0123456789-fix-login_agent_1',
      'berth-0123456789-fix-login_postgres_1',
      'berth-0123456789-fix-login_redis_1',
    ]);
    expect(containerName('p', 'agent', 'v2')).toBe('p-agent-1');
    const labels = stack.containers[0]?.options.Labels as Record<string, string>;
    expect(labels).toMatchObject({
      'com.docker.compose.project': input.project,
      'com.docker.compose.service': 'agent',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.container-number': '1',
      'dev.berth.agent': 'fix-login',
    });
    expect(stack.networks[0]?.labels['com.docker.compose.network']).toBe('private');
    expect(stack.volumes[0]?.labels['com.docker.compose.volume']).toBe('pgdata');
  });

  it('carries every setting of the document into the container options', () => {
    const agent = stack.containers[0]?.options as {
      HostConfig: Record<string, unknown>;
      [key: string]: unknown;
    };
    expect(agent.User).toBe('1000:1000');
    expect(agent.WorkingDir).toBe('/src/app.worktrees/fix-login');
    expect(agent.Cmd).toEqual(['sleep', 'infinity']);
    expect(agent.Env).toContain('DATABASE_URL=postgres://app:pgpass@postgres:5432/app');
    expect(agent.HostConfig).toMatchObject({
      Init: true,
      NetworkMode: 'berth-0123456789-fix-login_private',
      PortBindings: { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '20002' }] },
      RestartPolicy: { Name: 'unless-stopped' },
      SecurityOpt: ['no-new-privileges:true'],
      NanoCpus: 1.5e9,
      Memory: 1024 ** 3,
      PidsLimit: 256,
    });
    expect(agent.HostConfig.Mounts).toEqual([
      {
        Type: 'bind',
        Source: '/src/app.worktrees/fix-login',
        Target: '/src/app.worktrees/fix-login',
        ReadOnly: false,
      },
      { Type: 'bind', Source: '/src/app/.git', Target: '/src/app/.git', ReadOnly: false },
      { Type: 'bind', Source: '/src/app/.git/config', Target: '/src/app/.git/config', ReadOnly: true },
      { Type: 'bind', Source: '/src/app/.git/hooks', Target: '/src/app/.git/hooks', ReadOnly: true },
      { Type: 'bind', Source: '/src/app/.git/info', Target: '/src/app/.git/info', ReadOnly: true },
      { Type: 'bind', Source: '/src/app/.git/modules', Target: '/src/app/.git/modules', ReadOnly: true },
      { Type: 'tmpfs', Target: '/src/app/.git/berth' },
      { Type: 'tmpfs', Target: '/run/secrets' },
    ]);
    const postgres = stack.containers[1]?.options as { HostConfig: { Mounts: unknown[] } };
    expect(postgres.HostConfig.Mounts).toEqual([
      { Type: 'volume', Source: 'berth-0123456789-fix-login_pgdata', Target: '/var/lib/postgresql/data' },
    ]);
    expect(stack.containers[1]?.options.NetworkingConfig).toEqual({
      EndpointsConfig: { 'berth-0123456789-fix-login_private': { Aliases: ['postgres'] } },
    });
  });

  it('reads memory sizes as Compose does', () => {
    expect(memoryBytes('512m')).toBe(512 * 1024 ** 2);
    expect(memoryBytes('1.5g')).toBe(1.5 * 1024 ** 3);
    expect(() => memoryBytes('lots')).toThrow();
  });
});

describe('ephemeral Postgres storage', () => {
  it('runs on the build-time cluster with no crash safety, and makes no volume', () => {
    const agent = agentFixture({
      postgres: { user: 'app', database: 'app', storage: 'ephemeral', preinitialised: true },
    });
    // biome-ignore lint/suspicious/noExplicitAny: plain data
    const doc = planCompose(agent, config, host) as any;
    expect(doc.services.postgres.environment.PGDATA).toBe(PREINITIALISED_PGDATA);
    expect(doc.services.postgres.command).toEqual([
      'postgres',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ]);
    expect(doc.services.postgres.volumes).toEqual([{ type: 'tmpfs', target: '/var/lib/postgresql/data' }]);
    expect(Object.keys(doc.volumes)).toEqual(['redisdata']);
  });

  it('falls back to memory for an image without a build-time cluster', () => {
    const agent = agentFixture({
      postgres: { user: 'app', database: 'app', storage: 'ephemeral', preinitialised: false },
    });
    // biome-ignore lint/suspicious/noExplicitAny: plain data
    const doc = planCompose(agent, config, host) as any;
    expect(doc.services.postgres.volumes).toEqual([{ type: 'tmpfs', target: '/var/lib/postgresql/data' }]);
    expect(doc.services.postgres.environment.PGDATA).toBeUndefined();
  });
});

describe('the order an engine stack starts in', () => {
  it('starts each service after those it comes after, the rest at once', () => {
    const waves = startWaves([
      { service: 'agent' },
      { service: 'api', after: ['postgres', 'cache'] },
      { service: 'postgres' },
      { service: 'cache', after: ['postgres'] },
      { service: 'worker', after: ['elsewhere'] },
    ]);
    expect(waves).toEqual([['agent', 'postgres', 'worker'], ['cache'], ['api']]);
  });

  it('puts what a cycle leaves in one last wave rather than never starting it', () => {
    const waves = startWaves([
      { service: 'a', after: ['b'] },
      { service: 'b', after: ['a'] },
      { service: 'c' },
    ]);
    expect(waves).toEqual([['c'], ['a', 'b']]);
  });
});
