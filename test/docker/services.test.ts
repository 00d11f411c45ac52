import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView } from '../../src/contract.js';
import { repoId } from '../../src/plan/names.js';
import { readEnvFile, shInAgent } from '../helpers/agent.js';
import { berth, expectCleanStderr, resultOf } from '../helpers/cli.js';
import { docker, TEST_LABEL_PAIR } from '../helpers/docker.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { repoLeases } from '../helpers/stacks.js';

/*
 * services: in berth.yaml, on the real engine: MariaDB and memcached run from berth's stand-ins (built
 * from Debian's packages by berth's own code on first use: no registry answers here), one copy per agent.
 */

const CONFIG = `postgres: { enabled: false }
services:
  mariadb:
    image: mariadb:11
    env:
      MARIADB_DATABASE: app
      MARIADB_USER: app
      MARIADB_PASSWORD: "\${random}"
      MARIADB_ROOT_PASSWORD: "\${random}"
    ports: [3306]
    volumes: [/var/lib/mysql]
    mounts:
      - { source: db/init, path: /docker-entrypoint-initdb.d, readOnly: true }
    url: "mysql://app:\${env.MARIADB_PASSWORD}@\${host}:\${port}/app"
  memcached:
    image: memcached:1.6
    command: ["-m", "32"]
    ports: [11211]
    dependsOn: [mariadb]
    resources: { memory: 256m, pids: 64 }
`;

const INIT_SQL = 'CREATE TABLE notes (body TEXT);\n';

async function serviceContainer(name: string, service: string) {
  const [container] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${name}`, `com.docker.compose.service=${service}`] },
  });
  if (!container) throw new Error(`no ${service} container of ${name}`);
  return docker().getContainer(container.Id).inspect();
}

/** The mariadb client of the stand-in image, in a throwaway container on the host's network. */
async function sqlFromHost(port: string, password: string, sql: string) {
  return execa(
    'docker',
    [
      'run',
      '--rm',
      '--network',
      'host',
      '--label',
      TEST_LABEL_PAIR,
      '--entrypoint',
      'mariadb',
      'berth-offline/mariadb:bookworm',
      '-h127.0.0.1',
      `-P${port}`,
      '-uapp',
      `-p${password}`,
      '--connect-timeout=5',
      '-N',
      'app',
      '-e',
      sql,
    ],
    { reject: false },
  );
}

describe('services: any image, one copy per agent', () => {
  let repo: TestRepo;
  const agents: Record<string, AgentView> = {};

  beforeAll(async () => {
    repo = await makeRepo({ files: { 'berth.yaml': CONFIG, 'db/init/01-notes.sql': INIT_SQL } });
    for (const name of ['svc-a', 'svc-b']) {
      const result = await berth(['provision', name, '--repo', repo.root, '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      agents[name] = resultOf(result, 'provision').agent;
    }
  }, 900_000);
  afterAll(() => repo?.cleanup());

  it('runs each service, reports it in show, and masks its random values', async () => {
    const a = agents['svc-a'] as AgentView;
    expect(a.services).toMatchObject({ agent: 'running', mariadb: 'running', memcached: 'running' });
    expect(a.ports).toHaveProperty('mariadb');
    expect(a.ports).toHaveProperty('memcached');
    expect(a.urls.mariadb).toBe(`mysql://app:***@127.0.0.1:${a.ports.mariadb}/app`);
    const shown = resultOf(await berth(['show', 'svc-a', '--repo', repo.root, '--json']), 'show');
    expect(shown.agent?.services).toMatchObject({ mariadb: 'running', memcached: 'running' });
    const env = resultOf(await berth(['env', 'svc-a', '--repo', repo.root, '--json']), 'env');
    expect(env.env.MARIADB_URL).toBe(`mysql://app:***@127.0.0.1:${a.ports.mariadb}/app`);
  });

  it('writes NAME_HOST, NAME_PORT and NAME_URL in both views, with a random password per agent', () => {
    const views = Object.fromEntries(
      ['svc-a', 'svc-b'].map((name) => {
        const agent = agents[name] as AgentView;
        return [name, { container: readEnvFile(agent.envFile), host: readEnvFile(agent.hostEnvFile) }];
      }),
    );
    const a = views['svc-a'];
    const b = views['svc-b'];
    const password = /^mysql:\/\/app:([A-Za-z0-9_-]{24})@mariadb:3306\/app$/.exec(
      a?.container.MARIADB_URL ?? '',
    )?.[1];
    expect(password).toBeDefined();
    expect(a?.container).toMatchObject({
      MARIADB_HOST: 'mariadb',
      MARIADB_PORT: '3306',
      MEMCACHED_HOST: 'memcached',
      MEMCACHED_PORT: '11211',
    });
    expect(a?.host).toMatchObject({
      MARIADB_HOST: '127.0.0.1',
      MARIADB_PORT: String(agents['svc-a']?.ports.mariadb),
      MARIADB_URL: `mysql://app:${password}@127.0.0.1:${agents['svc-a']?.ports.mariadb}/app`,
      MEMCACHED_PORT: String(agents['svc-a']?.ports.memcached),
    });
    expect(b?.container.MARIADB_URL).not.toContain(password);
  });

  it('gives each agent its own MariaDB: its own data and password, by leased port from the host', async () => {
    const password = (name: string) =>
      new URL(readEnvFile((agents[name] as AgentView).hostEnvFile).MARIADB_URL ?? '').password;
    const port = (name: string) => String(agents[name]?.ports.mariadb);
    // The init script came from the agent's worktree (a bind mount of db/init).
    const insert = await sqlFromHost(port('svc-a'), password('svc-a'), "INSERT INTO notes VALUES ('from a')");
    expect(insert.exitCode, insert.stderr).toBe(0);
    const ownA = await sqlFromHost(port('svc-a'), password('svc-a'), 'SELECT body FROM notes');
    expect(ownA.stdout.trim()).toBe('from a');
    const ownB = await sqlFromHost(port('svc-b'), password('svc-b'), 'SELECT COUNT(*) FROM notes');
    expect(ownB.stdout.trim()).toBe('0');
    const crossed = await sqlFromHost(port('svc-b'), password('svc-a'), 'SELECT 1');
    expect(crossed.exitCode).not.toBe(0);
    expect(crossed.stderr).toMatch(/Access denied/);
  });

  it("reaches its services by name from the agent, and not the other agent's", async () => {
    const own = await shInAgent(
      repo.root,
      'svc-a',
      `bash -c 'exec 3<>/dev/tcp/memcached/11211; printf "version\\r\\n" >&3; read -t 5 line <&3; echo "$line"; </dev/tcp/mariadb/3306 && echo mariadb-open'`,
    );
    expect(own.exitCode, own.stderr).toBe(0);
    expect(own.stdout).toMatch(/^VERSION \d/m);
    expect(own.stdout).toMatch(/mariadb-open/);
    const other = await serviceContainer('svc-b', 'mariadb');
    const address = Object.values(other.NetworkSettings.Networks)[0]?.IPAddress ?? '';
    expect(address).not.toBe('');
    const crossed = await shInAgent(
      repo.root,
      'svc-a',
      `timeout 4 bash -c '</dev/tcp/${address}/3306' && echo reached || echo unreachable`,
    );
    expect(crossed.stdout.trim()).toBe('unreachable');
  });

  it('runs service containers on the private network only, unprivileged and labelled like Postgres', async () => {
    for (const service of ['mariadb', 'memcached']) {
      const info = await serviceContainer('svc-a', service);
      expect(Object.keys(info.NetworkSettings.Networks)).toHaveLength(1);
      expect(Object.keys(info.NetworkSettings.Networks)[0]).toMatch(/_private$/);
      expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
      expect(info.HostConfig.Privileged).toBe(false);
      expect(info.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
      expect(info.Config.Labels).toMatchObject({ 'dev.berth.agent': 'svc-a', 'dev.berth.managed': 'true' });
      expect(info.Config.Image).toBe(`berth-offline/${service}:bookworm`);
    }
    const ephemeral = await serviceContainer('svc-a', 'mariadb');
    expect(ephemeral.Mounts.find((m) => m.Destination === '/var/lib/mysql')?.Type).toBe('tmpfs');
    // Limits: the default for MariaDB, the configured ones for memcached; Redis's from redis.resources.
    const limits = async (service: string) => {
      const info = await serviceContainer('svc-a', service);
      return [info.HostConfig.Memory, info.HostConfig.PidsLimit];
    };
    expect(await limits('mariadb')).toEqual([1024 ** 3, 512]);
    expect(await limits('memcached')).toEqual([256 * 1024 ** 2, 64]);
    expect(await limits('redis')).toEqual([1024 ** 3, 512]);
    // Its data in memory is a tmpfs of at most its memory, not half the host's.
    const df = await execa('docker', ['exec', ephemeral.Id, 'df', '-k', '--output=size', '/var/lib/mysql']);
    expect(Number(df.stdout.trim().split('\n')[1])).toBe(1024 * 1024);
    // Its mount is berth's copy of the worktree's db/init, not the worktree's folder (which the agent
    // could swap for a link the engine would follow when the service starts again).
    const init = ephemeral.Mounts.find((m) => m.Destination === '/docker-entrypoint-initdb.d');
    expect(init?.Source).toBe(
      join(realpathSync(repo.root), '.git', 'berth', 'agents', 'svc-a', 'mounts', 'mariadb', '0'),
    );
    expect(init?.RW).toBe(false);
  });

  it('a sync says it does not apply changed services, and the agent keeps the config its stack was made with', async () => {
    const kept = join(repo.root, '.git', 'berth', 'agents', 'svc-b', 'berth.yaml');
    const before = readFileSync(kept, 'utf8');
    await repo.commitFile(
      'berth.yaml',
      CONFIG.replace('command: ["-m", "32"]', 'command: ["-m", "48"]'),
      'more cache',
    );
    try {
      const synced = await berth(['sync', 'svc-b', '--repo', repo.root]);
      expect(synced.exitCode, synced.stderr).toBe(0);
      expect(synced.stderr).toContain("berth.yaml's services changed since svc-b was made");
      expect(readFileSync(kept, 'utf8')).toBe(before);
    } finally {
      await repo.commitFile('berth.yaml', CONFIG, 'back');
    }
  });

  it('teardown removes every service and releases its leases', async () => {
    const commonGitDir = realpathSync(join(repo.root, '.git'));
    for (const name of ['svc-a', 'svc-b']) {
      const down = await berth(['teardown', name, '--repo', repo.root, '--force']);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(await leftovers(repo.root, name)).toEqual(NOTHING);
    }
    expect(repoLeases(repoId(commonGitDir))).toEqual([]);
  });
});

describe('a bad service definition', () => {
  let repo: TestRepo;
  afterAll(() => repo?.cleanup());

  it.each([
    ['a reserved name', 'services:\n  redis: { image: redis:7 }\n', /services\.redis/],
    [
      'readiness on a port it does not have',
      'services:\n  db: { image: mariadb:11, ports: [3306], ready: { tcp: 5432 } }\n',
      /services\.db\.ready\.tcp/,
    ],
    [
      'an unknown substitution',
      `services:\n  db: { image: mariadb:11, env: { A: "\${secret}" } }\n`,
      /services\.db\.env\.A: unknown substitution/,
    ],
    [
      'a mount outside the repository',
      'services:\n  db: { image: mariadb:11, mounts: [{ source: ../etc, path: /x }] }\n',
      /services\.db\.mounts/,
    ],
    [
      'an import of a file the repository lacks',
      'services: { from: docker-compose.yml }\n',
      /services\.from: docker-compose\.yml does not exist/,
    ],
  ])('%s: one line with a hint, and nothing made', async (_what, yaml, pattern) => {
    repo = await makeRepo({ files: { 'berth.yaml': yaml } });
    const result = await berth(['provision', 'svc-bad', '--repo', repo.root]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(pattern);
    expect(expectCleanStderr(result.stderr)).toEqual([]);
    expect(await leftovers(repo.root, 'svc-bad')).toEqual(NOTHING);
    expect(existsSync(join(`${repo.root}.worktrees`, 'svc-bad'))).toBe(false);
    await repo.cleanup();
  });
});

describe('a service that cannot start, and a mount the branch points outside', () => {
  let repo: TestRepo;
  afterAll(() => repo?.cleanup());

  it('a service that exits fails the provision with its last lines, and everything is rolled back', async () => {
    repo = await makeRepo({
      files: {
        'berth.yaml':
          'postgres: { enabled: false }\nredis: { enabled: false }\nservices:\n  broken:\n    image: memcached:1.6\n    command: [sh, -c, "echo the broken service says why; exit 3"]\n    ports: [11211]\n',
      },
    });
    const result = await berth(['provision', 'svc-broken', '--repo', repo.root]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/failed at step "health": broken (exited with code 3|keeps exiting)/);
    expect(result.stderr).toMatch(/broken \| the broken service says why/);
    expect(expectCleanStderr(result.stderr)).toEqual([]);
    expect(await leftovers(repo.root, 'svc-broken')).toEqual(NOTHING);
    await repo.cleanup();
  });

  it("a mount whose path the agent's branch made a symlink out of the worktree is refused", async () => {
    repo = await makeRepo({
      files: {
        'berth.yaml':
          'postgres: { enabled: false }\nredis: { enabled: false }\nservices:\n  cache:\n    image: memcached:1.6\n    mounts: [{ source: conf, path: /conf, readOnly: true }]\n',
        'conf/a.conf': 'x\n',
      },
    });
    await repo.git('checkout', '-qb', 'planted');
    await repo.git('rm', '-rq', 'conf');
    await execa('ln', ['-s', '/etc', join(repo.root, 'conf')]);
    await repo.git('add', 'conf');
    await repo.git('commit', '-qm', 'conf is the host /etc now');
    await repo.git('checkout', '-q', 'main');
    const result = await berth(['provision', 'svc-link', '--repo', repo.root, '--branch', 'planted']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/services\.cache\.mounts: conf leads outside the worktree/);
    const made = await leftovers(repo.root, 'svc-link');
    expect({ ...made, branches: 0 }).toEqual(NOTHING);
    await repo.cleanup();
  });
});
