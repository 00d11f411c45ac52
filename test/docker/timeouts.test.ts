import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  ENGINE_TIMEOUTS,
  engineEndpoint,
  followContainerLogs,
  longRunning,
} from '../../src/adapters/docker.js';
import { PROBE_TIMEOUT_MS, postgresAnswers, redisAnswers } from '../../src/adapters/probe.js';
import { waitUntilReady } from '../../src/core/agent/readiness.js';
import { openRepo } from '../../src/core/context.js';
import { BIN, cli, expectCleanStderr } from '../helpers/cli.js';
import { docker, TEST_LABEL, TEST_SCOPE } from '../helpers/docker.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

/**
 * Every network client of berth has connect and reply limits with a one-line error (issue 22): the
 * Engine API client and the readiness probes, against real endpoints that accept and never answer.
 */
let repo: TestRepo;
const servers: Array<{ close: () => void }> = [];
beforeAll(async () => {
  repo = await makeRepo();
});
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});
afterAll(() => repo?.cleanup());

/** A TCP server on 127.0.0.1 that accepts every connection and never writes a byte (or trickles one). */
async function silentServer(trickleMs?: number): Promise<number> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    if (trickleMs) timers.add(setInterval(() => socket.write('+'), trickleMs));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({
    close: () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  });
  return (server.address() as { port: number }).port;
}

/** Runs the CLI with DOCKER_HOST set, killed if it outlives `guardMs`; how long it took. */
async function timed(args: string[], dockerHost: string, guardMs: number) {
  const started = Date.now();
  const run = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    env: { DOCKER_HOST: dockerHost },
    timeout: guardMs,
    stdin: 'ignore',
  });
  return { ...cli(run), killed: run.timedOut, elapsedMs: Date.now() - started };
}

describe('the Engine API client', () => {
  it('gives up on an engine that accepts and never answers, in one line, at the first-answer limit', async () => {
    const port = await silentServer();
    const run = await timed(['provision', 'silent', '--repo', repo.root], `tcp://127.0.0.1:${port}`, 90_000);
    expect(run.killed).toBe(false);
    expect(run.exitCode).toBe(3);
    expect(run.stderr.trim().split('\n')).toEqual([
      `berth: error: the Docker engine at tcp://127.0.0.1:${port} does not answer (no answer within ${ENGINE_TIMEOUTS.firstAnswerMs / 1000} s) (hint: check that the engine runs and answers (docker info), and that DOCKER_HOST points at it)`,
    ]);
    expect(expectCleanStderr(run.stderr)).toEqual([]);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(ENGINE_TIMEOUTS.firstAnswerMs);
    // Nothing was made.
    expect(existsSync(join(repo.root, '.git', 'berth', 'state.json'))).toBe(false);
    expect(existsSync(join(repo.root, '..', 'project.worktrees', 'silent'))).toBe(false);
  });

  it('gives up on a request the engine stops answering, in one line, at the reply limit', async () => {
    // An engine that answers the ping, then nothing more: on a unix socket, as the default engine is.
    const dir = mkdtempSync(join(tmpdir(), 'berth-silent-engine-'));
    const path = join(dir, 'docker.sock');
    const held = new Set<{ destroy: () => void }>();
    const engine: HttpServer = createHttpServer((request, response) => {
      if (/\/(version|_ping)$/.test(request.url ?? '')) {
        response.setHeader('Content-Type', 'application/json');
        response.end(JSON.stringify({ Version: '20.10.24', ApiVersion: '1.41' }));
      } else held.add(request.socket);
    });
    await new Promise<void>((resolve) => engine.listen(path, resolve));
    servers.push({
      close: () => {
        for (const socket of held) socket.destroy();
        engine.close();
        rmSync(dir, { recursive: true, force: true });
      },
    });
    const run = await timed(['gc', '--repo', repo.root], `unix://${path}`, 180_000);
    expect(run.killed).toBe(false);
    expect(run.exitCode).toBe(3);
    expect(run.stderr.trim().split('\n')).toEqual([
      `berth: error: the Docker engine at unix://${path} did not reply within ${ENGINE_TIMEOUTS.replyMs / 1000} s (hint: check that the engine runs and answers (docker info), and that DOCKER_HOST points at it)`,
    ]);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(ENGINE_TIMEOUTS.replyMs);
  });

  it('cuts an ordinary request silent past the reply limit, never a followed log or a wait', async () => {
    const limits = { connectMs: 5000, firstAnswerMs: 5000, replyMs: 1500 };
    const client = connect(engineEndpoint(process.env), limits);
    const container = await docker().createContainer({
      Image: 'berth-offline/debian:bookworm',
      Cmd: ['sh', '-c', 'sleep 4; echo done; sleep 4'],
      Labels: { [TEST_LABEL]: TEST_SCOPE },
    });
    try {
      await container.start();
      let text = '';
      const stop = await followContainerLogs(client, container.id, 10, (chunk) => {
        text += chunk;
      });
      // Silent for 4 s, past the 1.5 s limit: the followed log still brings what comes after.
      await eventually(async () => expect(text).toContain('done'), 30_000);
      stop();
      // A wait is an ordinary request's shape, silent until the container ends: cut by the client
      // with a limit, waited to its end by the client for long work.
      await expect(client.getContainer(container.id).wait()).rejects.toMatchObject({
        code: 'engine-timeout',
        message: expect.stringMatching(/did not reply within 1.5 s$/),
      });
      await expect(longRunning(client).getContainer(container.id).wait()).resolves.toMatchObject({
        StatusCode: 0,
      });
    } finally {
      await container.remove({ force: true });
    }
  });
});

describe('the readiness probes', () => {
  it('count an endpoint that accepts and never answers, or trickles, as not answering, within their limit', async () => {
    for (const port of [await silentServer(), await silentServer(500)]) {
      const started = Date.now();
      const [postgres, redis] = await Promise.all([
        postgresAnswers(`postgres://app:secret@127.0.0.1:${port}/app`),
        redisAnswers(port, 'secret'),
      ]);
      expect(postgres).toEqual({ ok: false, answer: `no reply within ${PROBE_TIMEOUT_MS / 1000} s` });
      expect(redis).toEqual({ ok: false, answer: `no reply within ${PROBE_TIMEOUT_MS / 1000} s` });
      expect(Date.now() - started).toBeGreaterThanOrEqual(PROBE_TIMEOUT_MS - 50);
    }
  });

  it('a wait for a stack whose services run but never answer ends at its limit with what each said', async () => {
    const port = await silentServer();
    const context = await openRepo({ repo: repo.root });
    const labels = {
      'dev.berth.managed': 'true',
      'dev.berth.repo': context.repoId,
      'dev.berth.agent': 'silent-stack',
      [TEST_LABEL]: TEST_SCOPE,
    };
    const started = await Promise.all(
      ['postgres', 'redis'].map(async (service) => {
        const container = await docker().createContainer({
          Image: 'berth-offline/debian:bookworm',
          Cmd: ['sleep', '120'],
          Labels: { ...labels, 'com.docker.compose.service': service },
        });
        await container.start();
        return container;
      }),
    );
    try {
      const target = {
        labels,
        ports: { postgres: port, redis: port },
        passwords: { postgres: 'secret', redis: 'secret' },
        postgres: { user: 'app', database: 'app', storage: 'ephemeral' as const, preinitialised: true },
        redisEnabled: true,
        subnet: '10.255.255.0/28',
      };
      const error = await waitUntilReady(context, target, 3000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({
        code: 'health-timeout',
        message: `postgres and redis did not answer within 3 s (postgres on 127.0.0.1:${port}: no reply within 2 s; redis on 127.0.0.1:${port}: no reply within 2 s)`,
      });
    } finally {
      await Promise.all(started.map((c) => c.remove({ force: true })));
    }
  });
});
