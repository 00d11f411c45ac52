import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView } from '../../src/contract.js';
import { nodeInAgent, readEnvFile } from '../helpers/agent.js';
import { berth, cli, listedAgents, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { asOtherUser } from '../helpers/other-user.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

async function inspectService(name: string, service: string) {
  const [container] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${name}`, `com.docker.compose.service=${service}`] },
  });
  return docker()
    .getContainer(container?.Id ?? '')
    .inspect();
}

const RESP_PING = (host: string) => `
import net from 'node:net';
const socket = net.connect({ host: '${host}', port: 6379, timeout: 3000 });
socket.on('connect', () => socket.write('PING\\r\\n'));
socket.on('data', (d) => { console.log(String(d).trim()); process.exit(0); });
socket.on('timeout', () => { console.log('timeout'); process.exit(1); });
socket.on('error', (e) => { console.log(e.code); process.exit(1); });
`;

describe('isolation and secrets', () => {
  let repo: TestRepo;
  const agents: Record<string, AgentView> = {};

  beforeAll(async () => {
    repo = await makeRepo({
      files: { 'berth.yaml': 'agent:\n  resources: { cpus: 1.5, memory: 512m, pids: 300 }\n' },
    });
    for (const name of ['iso-a', 'iso-b']) {
      const result = await berth(['provision', name, '--repo', repo.root, '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      agents[name] = resultOf(result, 'provision').agent;
    }
  });
  afterAll(() => repo?.cleanup());

  it('runs the agent unprivileged, with no Docker socket, no-new-privileges and the configured limits', async () => {
    const info = await inspectService('iso-a', 'agent');
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(info.HostConfig.NanoCpus).toBe(1.5e9);
    expect(info.HostConfig.Memory).toBe(512 * 1024 ** 2);
    expect(info.HostConfig.PidsLimit).toBe(300);
    expect(info.Config.User).toBe(`${statSync(repo.root).uid}:${statSync(repo.root).gid}`);
    const mounts = info.Mounts.map((m) => `${m.Source} ${m.Destination}`).join('\n');
    expect(mounts).not.toMatch(/docker\.sock/);
    const sockets = await berth([
      'exec',
      'iso-a',
      '--repo',
      repo.root,
      '--',
      'sh',
      '-c',
      'ls /var/run/docker.sock /run/docker.sock 2>&1; true',
    ]);
    expect(sockets.stdout).toMatch(/No such file/);
  });

  it("keeps agent a away from agent b's Redis, and each Redis and Postgres needs its own agent's password", async () => {
    const bRedis = await inspectService('iso-b', 'redis');
    const address = Object.values(bRedis.NetworkSettings.Networks)[0]?.IPAddress ?? '';
    const own = await nodeInAgent(repo.root, 'iso-a', RESP_PING('redis'));
    expect(own.stdout).toMatch(/NOAUTH/);
    const other = await nodeInAgent(repo.root, 'iso-a', RESP_PING(address));
    expect(['timeout', 'EHOSTUNREACH', 'ECONNREFUSED']).toContain(other.stdout);

    const envA = readEnvFile(agents['iso-a']?.hostEnvFile ?? '');
    const envB = readEnvFile(agents['iso-b']?.hostEnvFile ?? '');
    expect(envA.PGPASSWORD).not.toBe(envB.PGPASSWORD);
    const wrong = await execa(
      'psql',
      [
        '-h',
        '127.0.0.1',
        '-p',
        envB.PGPORT ?? '',
        '-U',
        envB.PGUSER ?? '',
        '-d',
        envB.PGDATABASE ?? '',
        '-c',
        'select 1',
      ],
      {
        env: { PGPASSWORD: envA.PGPASSWORD ?? '' },
        reject: false,
      },
    );
    expect(wrong.stderr).toMatch(/password authentication failed/);
  });

  it('keeps passwords out of progress, --json and logs unless --show-secrets is given', async () => {
    const env = readEnvFile(agents['iso-a']?.envFile ?? '');
    const secrets = [env.PGPASSWORD ?? '', new URL(env.REDIS_URL ?? '').password];
    expect(secrets.every((s) => s.length > 10)).toBe(true);
    const provision = await berth(['provision', 'iso-c', '--repo', repo.root, '--json']);
    const listed = await berth(['ls', '--repo', repo.root, '--json']);
    const plain = await berth(['ls', '--repo', repo.root]);
    const logs = readFileSync(
      join(repo.root, '.git', 'berth', 'agents', 'iso-a', 'logs', 'provision.log'),
      'utf8',
    );
    const cEnv = readEnvFile(resultOf(provision, 'provision').agent.hostEnvFile);
    for (const text of [provision.stdout, provision.stderr, listed.stdout, plain.stdout, logs]) {
      for (const secret of [...secrets, cEnv.PGPASSWORD ?? '']) expect(text).not.toContain(secret);
    }
    expect(listedAgents(listed)[0]?.urls.database).toMatch(/:\*\*\*@127\.0\.0\.1:/);
    const shown = await berth(['ls', '--repo', repo.root, '--json', '--show-secrets']);
    expect(shown.stdout).toContain(env.PGPASSWORD);
  });

  it('writes the compose file and state readable by the owner only', () => {
    const dir = join(repo.root, '.git', 'berth');
    expect(statSync(join(dir, 'state.json')).mode & 0o077).toBe(0);
    expect(statSync(join(dir, 'agents', 'iso-a', 'compose.yaml')).mode & 0o077).toBe(0);
    expect(statSync(agents['iso-a']?.envFile ?? '').mode & 0o777).toBe(0o600);
    expect(statSync(agents['iso-a']?.hostEnvFile ?? '').mode & 0o777).toBe(0o600);
  });
});

describe('no outbound access', () => {
  let repo: TestRepo;
  beforeAll(async () => {
    repo = await makeRepo({ files: { 'berth.yaml': 'network: { outbound: false }\n' } });
  });
  afterAll(() => repo?.cleanup());

  it('puts the agent on internal networks only, and still gives it and the host its Postgres and Redis', async () => {
    const result = await berth(['provision', 'sealed', '--repo', repo.root, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const info = await inspectService('sealed', 'agent');
    const networks = await Promise.all(
      Object.keys(info.NetworkSettings.Networks).map((n) => docker().getNetwork(n).inspect()),
    );
    expect(networks.map((n) => n.Internal)).toEqual([true]);
    const byName = await nodeInAgent(repo.root, 'sealed', RESP_PING('redis'));
    expect(byName.stdout).toMatch(/NOAUTH/);
    const [listed] = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(listed).toMatchObject({ state: 'running', health: 'ok' });
  });
});

// berth run by a user who is not root: the container runs as that user, and files keep their owner.
const root = process.getuid?.() === 0;
describe.runIf(root)('a non-root host user', () => {
  let repo: TestRepo;
  let user: Awaited<ReturnType<typeof asOtherUser>>;
  let uid: string;
  beforeAll(async () => {
    user = await asOtherUser('user', ['docker']);
    repo = await makeRepo();
    await repo.git('config', 'user.name', 'Berth Test');
    await repo.git('config', 'user.email', 'berth-test-user@berth.invalid');
    uid = user.uid;
    await execa('chown', ['-R', `${uid}:${user.gid}`, join(repo.root, '..')]);
  });
  afterAll(async () => {
    await user?.run(['teardown', 'mine', '--repo', repo.root, '--force']);
    await repo?.cleanup();
    await user?.cleanup();
  });

  // The user is new (no berth state of theirs yet) and runs berth from a folder they cannot enter.
  it('gets a container that runs as them, not root, and files they own', async () => {
    const provision = await user.run(['provision', 'mine', '--repo', repo.root, '--json']);
    expect(provision.exitCode, String(provision.stderr)).toBe(0);
    const script = 'id -u && touch made-inside && git add made-inside && git commit -qm inside && echo ok';
    const inside = await user.run(['exec', 'mine', '--repo', repo.root, '--', 'sh', '-c', script]);
    expect(String(inside.stdout).split('\n'), String(inside.stderr)).toEqual([uid, 'ok']);
    const worktree = resultOf(cli(provision), 'provision').agent.worktree;
    expect(String(statSync(join(worktree, 'made-inside')).uid)).toBe(uid);
  });
});
