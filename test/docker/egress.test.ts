import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView } from '../../src/contract.js';
import { EGRESS_IMAGE } from '../../src/plan/images.js';
import { nodeInAgent, shInAgent } from '../helpers/agent.js';
import { BIN, berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { type Outside, startOutside } from '../helpers/outside.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

/** One decision of the proxy, as `berth logs --egress` prints it. */
interface Decision {
  time: string;
  agent: string;
  method: string;
  host: string;
  port: string;
  decision: string;
  reason: string;
  status: string;
  error: string;
  client: string;
}

const NAME = 'eg-a';
const allowList = (extra: string[] = []) =>
  `network:\n  egress:\n    allow: [allowed.test, private.test, localhost, "tcp.test:2222"${extra.map((e) => `, ${e}`).join('')}]\nports:\n  app: { web: 8080 }\n`;

let repo: TestRepo;
let outside: Outside;
let agent: AgentView;

async function service(name: string) {
  const [container] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${NAME}`, `com.docker.compose.service=${name}`] },
  });
  if (!container) throw new Error(`no ${name} container`);
  return container.Id;
}

async function decisions(): Promise<Decision[]> {
  const run = await berth(['logs', NAME, '--egress', '--repo', repo.root]);
  expect(run.exitCode, run.stderr).toBe(0);
  return run.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Decision);
}

/** The decision on host:port, once the proxy has written it (it logs as a transaction ends). */
const decisionOn = (host: string, port: string, method?: string) =>
  eventually(async () => {
    const found = (await decisions()).findLast(
      (d) => d.host === host && d.port === port && (!method || d.method === method),
    );
    if (!found) throw new Error(`no decision on ${host}:${port} yet`);
    return found;
  }, 15_000);

/** curl in the agent (it honours HTTPS_PROXY and HTTP_PROXY from the container's environment). */
const curl = (args: string) => shInAgent(repo.root, NAME, `curl -sS -m 10 ${args}`);

beforeAll(async () => {
  // `npm test` readies the host first; a run of this file alone may find the proxy's image missing.
  if (
    !(await docker()
      .getImage(EGRESS_IMAGE)
      .inspect()
      .catch(() => undefined))
  )
    expect((await berth(['host', 'init'])).exitCode).toBe(0);
  outside = await startOutside(`egress-t${randomBytes(3).toString('hex')}`);
  repo = await makeRepo({ files: { 'berth.yaml': allowList(), 'ca.pem': outside.caPem } });
  const run = await berth(['provision', NAME, '--repo', repo.root, '--json']);
  expect(run.exitCode, run.stderr).toBe(0);
  agent = resultOf(run, 'provision').agent;
  // The proxy's uplink to "the internet" of this test; the agent gets none.
  await outside.connectProxy(await service('egress'));
});

afterAll(async () => {
  await repo?.cleanup();
  await outside?.cleanup();
});

describe('an agent behind its egress proxy', () => {
  it('reaches a listed host over HTTPS (its own CA, end to end) and over HTTP, each decision logged', async () => {
    const https = await curl('--cacert ca.pem https://allowed.test/');
    expect(https.stdout, https.stderr).toBe('hello from allowed.test');
    const http = await curl('http://allowed.test/');
    expect(http.stdout, http.stderr).toBe('hello from allowed.test');
    expect(await decisionOn('allowed.test', '443', 'CONNECT')).toMatchObject({
      agent: NAME,
      decision: 'allowed',
      reason: 'listed:allowed.test',
      status: '200',
    });
    expect(await decisionOn('allowed.test', '80', 'GET')).toMatchObject({
      decision: 'allowed',
      status: '200',
    });
  });

  it('is refused a name that is not listed, over HTTPS and HTTP, with the reason in the log and in the answer', async () => {
    const https = await curl('--cacert ca.pem https://denied.test/');
    expect(https.exitCode).not.toBe(0);
    expect(https.stderr).toMatch(/403/);
    const http = await curl('-i http://denied.test/');
    expect(http.stdout).toMatch(/^HTTP\/1\.1 403/);
    expect(http.stdout).toContain(
      "berth: the egress proxy refused GET denied.test:80: it is not on the agent's allowlist",
    );
    for (const [port, method] of [
      ['443', 'CONNECT'],
      ['80', 'GET'],
    ] as const) {
      expect(await decisionOn('denied.test', port, method)).toMatchObject({
        decision: 'refused',
        reason: 'not-listed',
        status: '403',
      });
    }
  });

  it('is refused a listed name on a port not listed for it', async () => {
    const run = await curl('--cacert ca.pem https://allowed.test:2222/');
    expect(run.exitCode).not.toBe(0);
    expect(await decisionOn('allowed.test', '2222', 'CONNECT')).toMatchObject({
      decision: 'refused',
      reason: 'not-listed',
    });
  });

  it('is refused a listed name that resolves to a private address, or to loopback', async () => {
    const privateRun = await curl('http://private.test/');
    expect(privateRun.stdout).toMatch(/the name resolves to an address agents may not reach/);
    expect(await decisionOn('private.test', '80', 'GET')).toMatchObject({
      decision: 'refused',
      reason: 'private-address',
      status: '403',
    });
    // localhost is in NO_PROXY: asked through the proxy on purpose.
    await curl(`--noproxy '' -x ${'$'}HTTP_PROXY http://localhost/`);
    expect(await decisionOn('localhost', '80', 'GET')).toMatchObject({ reason: 'loopback-address' });
  });

  it('cannot reach any address directly: not the outside hosts, not its proxy`s uplink, not the host', async () => {
    // A listener on every address of the host, which the agent must not reach by any of them.
    const listener: Server = createServer((socket) => socket.end('host\n'));
    await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', resolve));
    const port = (listener.address() as { port: number }).port;
    try {
      const hostAddresses = Object.values(networkInterfaces())
        .flat()
        .filter((a) => a && a.family === 'IPv4' && !a.internal)
        .map((a) => a?.address ?? '');
      const gateway = agentGateway();
      const targets = [
        `${outside.addresses['allowed.test']}:80`,
        `${outside.addresses['private.test']}:80`,
        `${gateway}:${port}`,
        ...hostAddresses.map((address) => `${address}:${port}`),
      ];
      const script = `
        import net from 'node:net';
        const tries = ${JSON.stringify(targets)}.map((target) => new Promise((resolve) => {
          const [host, port] = target.split(':');
          const socket = net.connect({ host, port: Number(port), timeout: 3000 });
          socket.on('connect', () => { socket.destroy(); resolve(target + ' connected'); });
          socket.on('timeout', () => { socket.destroy(); resolve(target + ' timeout'); });
          socket.on('error', (e) => resolve(target + ' ' + e.code));
        }));
        console.log((await Promise.all(tries)).join('\\n'));`;
      const run = await nodeInAgent(repo.root, NAME, script);
      expect(run.exitCode, run.stderr).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines).toHaveLength(targets.length);
      expect(lines.filter((line) => line.endsWith(' connected'))).toEqual([]);
      // And through the proxy, an address is refused as one.
      await curl(`http://${outside.addresses['allowed.test']}/`);
      expect(await decisionOn(outside.addresses['allowed.test'] ?? '', '80')).toMatchObject({
        decision: 'refused',
        reason: 'ip-address',
      });
    } finally {
      listener.close();
    }
  });

  it('resolves its own services and no other name, failing at once (no server asked, none waited for)', async () => {
    const run = await nodeInAgent(
      repo.root,
      NAME,
      `import dns from 'node:dns/promises';
       const own = await dns.lookup('postgres');
       const outside = await dns.resolve4('allowed.test').catch((e) => e.code);
       const lookup = await dns.lookup('allowed.test').catch((e) => e.code);
       console.log(JSON.stringify({ own: own.address, outside, lookup }));`,
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.own).toMatch(/^10\.201\./);
    // Refused by the one name server listed (nothing listens there), not timed out.
    expect(result.outside).toBe('ECONNREFUSED');
    expect(['EAI_AGAIN', 'ENOTFOUND']).toContain(result.lookup);
  });

  it('reaches a listed host:port as plain TCP, through the proxy, which decides and logs it', async () => {
    const run = await nodeInAgent(
      repo.root,
      NAME,
      `import net from 'node:net';
       const socket = net.connect({ host: 'tcp.test', port: 2222 });
       socket.on('data', (d) => process.stdout.write(d));
       socket.on('error', (e) => { console.log(e.code); process.exit(1); });`,
    );
    expect(run.stdout.trim(), run.stderr).toBe('tcp hello from tcp.test');
    expect(await decisionOn('tcp.test', '2222', 'CONNECT')).toMatchObject({
      decision: 'allowed',
      reason: 'listed:tcp.test:2222',
      client: '127.0.0.1',
    });
  });

  it('keeps its Postgres and Redis without a route out too', async () => {
    for (const name of ['postgres', 'redis']) {
      const probe = await execa(
        'docker',
        [
          'exec',
          await service(name),
          'timeout',
          '5',
          'bash',
          '-c',
          `exec 3<>/dev/tcp/${outside.addresses['allowed.test']}/80 && echo connected`,
        ],
        { reject: false },
      );
      expect(probe.stdout).not.toContain('connected');
      expect(probe.exitCode).not.toBe(0);
    }
    // Nor through the proxy's TCP forwarder of a listed host:port: it serves the agent's address alone.
    const proxy = (await shInAgent(repo.root, NAME, 'getent hosts egress')).stdout.split(/\s+/)[0];
    expect(proxy).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    for (const name of ['postgres', 'redis']) {
      const through = await execa(
        'docker',
        [
          'exec',
          await service(name),
          'timeout',
          '5',
          'bash',
          '-c',
          `exec 3<>/dev/tcp/${proxy}/2222 && cat <&3`,
        ],
        { reject: false },
      );
      expect(through.stdout, name).not.toContain('tcp hello');
    }
  });

  it('is still reached from the host at its app port, Postgres and Redis (through its proxy)', async () => {
    await shInAgent(
      repo.root,
      NAME,
      `nohup node -e "require('node:http').createServer((q, r) => r.end('app of ${NAME}')).listen(8080)" >/dev/null 2>&1 &`,
    );
    const web = agent.ports.web;
    // Until the app listens, a connection is accepted (by the engine's proxy) and then goes nowhere:
    // each attempt has its own time limit.
    const body = await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${web}/`, { signal: AbortSignal.timeout(5000) });
      return response.text();
    }, 30_000);
    expect(body).toBe(`app of ${NAME}`);
    const redis = await new Promise<string>((resolve, reject) => {
      const socket = connect(agent.ports.redis ?? 0, '127.0.0.1', () => socket.write('PING\r\n'));
      socket.setTimeout(10_000, () => reject(new Error('redis did not answer through the proxy')));
      socket.on('data', (d) => {
        resolve(String(d).trim());
        socket.destroy();
      });
      socket.on('error', reject);
    });
    expect(redis).toMatch(/NOAUTH/);
  });

  it('shows its decisions as JSON lines: berth logs --egress, --json, the MCP logs tool and the page', async () => {
    const lines = await decisions();
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines)
      expect(Object.keys(line)).toEqual([
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
    const json = resultOf(await berth(['logs', NAME, '--egress', '--repo', repo.root, '--json']), 'logs');
    expect(json.logs).toHaveLength(1);
    expect(json.logs[0]?.source).toBe('egress');
    expect(json.logs[0]?.text).toContain('"reason":"not-listed"');

    const client = new Client({ name: 'berth-egress-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp', '--repo', repo.root],
        env: { ...(process.env as Record<string, string>) },
        stderr: 'pipe',
      }),
    );
    try {
      const answer = (await client.callTool({ name: 'logs', arguments: { name: NAME, egress: true } })) as {
        isError?: boolean;
        structuredContent?: { logs: Array<{ source: string; text: string }> };
      };
      expect(answer.isError).toBeFalsy();
      expect(answer.structuredContent?.logs[0]?.source).toBe('egress');
      expect(answer.structuredContent?.logs[0]?.text).toContain('"host":"denied.test"');
    } finally {
      await client.close();
    }

    const ui = execa(process.execPath, [BIN, 'ui', '--repo', repo.root], { reject: false });
    try {
      let out = '';
      ui.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      const url = await eventually(async () => {
        const match = /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/.exec(out);
        if (!match) throw new Error(`no URL yet: ${out}`);
        return new URL(match[0]);
      }, 20_000);
      const token = url.searchParams.get('token') ?? '';
      const state = (await (await fetch(new URL(`/api/state?token=${token}`, url))).json()) as {
        repos: Array<{ id: string }>;
      };
      const base = `/api/repos/${state.repos[0]?.id}/agents/${NAME}`;
      const detail = (await (await fetch(new URL(`${base}?token=${token}`, url))).json()) as {
        logs: string[];
      };
      expect(detail.logs).toContain('egress');
      const stream = await fetch(new URL(`${base}/logs/egress?token=${token}`, url));
      const reader = stream.body?.getReader();
      let seen = '';
      while (reader && !seen.includes('denied.test')) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += new TextDecoder().decode(value);
      }
      await reader?.cancel();
      expect(seen).toContain('denied.test');
    } finally {
      ui.kill('SIGTERM');
      await ui;
    }
  });

  it('applies a changed list to the running agent: berth egress reload, and berth sync', async () => {
    expect((await curl('http://denied.test/')).stdout).toMatch(/refused/);
    writeFileSync(join(repo.root, 'berth.yaml'), allowList(['denied.test']));
    const reload = resultOf(
      await berth(['egress', 'reload', NAME, '--repo', repo.root, '--json']),
      'egress reload',
    );
    expect(reload).toEqual({
      name: NAME,
      allow: ['allowed.test', 'private.test', 'localhost', 'tcp.test:2222', 'denied.test'],
      tcp: ['tcp.test:2222'],
    });
    expect((await curl('http://denied.test/')).stdout).toBe('hello from denied.test');
    expect(await decisionOn('denied.test', '80', 'GET')).toMatchObject({
      decision: 'allowed',
      reason: 'listed:denied.test',
    });
    // The TCP forwarder was made anew and still answers.
    const tcp = await nodeInAgent(
      repo.root,
      NAME,
      `import net from 'node:net';
       net.connect({ host: 'tcp.test', port: 2222 }).on('data', (d) => process.stdout.write(d));`,
    );
    expect(tcp.stdout.trim()).toBe('tcp hello from tcp.test');

    writeFileSync(join(repo.root, 'berth.yaml'), allowList());
    const sync = resultOf(await berth(['sync', NAME, '--repo', repo.root, '--json']), 'sync');
    expect(sync.egress?.allow).not.toContain('denied.test');
    expect((await curl('http://denied.test/')).stdout).toMatch(/not on the agent's allowlist/);
  });

  it('lists its proxy among its services, and keeps its decisions in its history after teardown', async () => {
    const show = resultOf(await berth(['show', NAME, '--repo', repo.root, '--json']), 'show');
    expect(show.agent?.services).toMatchObject({ egress: 'running' });
    expect(show.agent?.health).toBe('ok');
    const before = (await decisions()).length;
    expect((await berth(['teardown', NAME, '--repo', repo.root, '--force'])).exitCode).toBe(0);
    const history = readFileSync(
      join(repo.root, '.git', 'berth', 'history', NAME, 'logs', 'egress', 'access.log'),
      'utf8',
    );
    expect(history.split('\n').filter(Boolean)).toHaveLength(before);
    expect((await decisions()).length).toBe(before);
    const left = await docker().listContainers({
      all: true,
      filters: { label: [`dev.berth.agent=${NAME}`] },
    });
    expect(left).toEqual([]);
  });
});

/** The gateway address of the agent's private network (which has no address on the host). */
function agentGateway(): string {
  const state = JSON.parse(readFileSync(join(repo.root, '.git', 'berth', 'state.json'), 'utf8'));
  const [base = ''] = String(state.agents[NAME].subnet).split('/');
  const octets = base.split('.').map(Number);
  return [...octets.slice(0, 3), (octets[3] ?? 0) + 1].join('.');
}
