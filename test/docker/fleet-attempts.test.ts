import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueEvents } from 'bullmq';
import { execa } from 'execa';
import getPort, { portNumbers } from 'get-port';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queueConnectionOptions } from '../../src/adapters/queue-redis.js';
import { QUEUE_NAME } from '../../src/plan/fleet.js';
import { berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import {
  type FleetPlace,
  fleetPlace,
  fleetStatus,
  flushQueue,
  heldLeases,
  hostLeftovers,
  killWorkers,
  NO_LEFTOVERS,
  removeQueue,
  startQueue,
  startWorker,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { eventually } from '../helpers/wait.js';

let place: FleetPlace;
let queue: { url: string; port: number; home: string };
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  place = await fleetPlace();
  queue = await startQueue(place.dir);
});

afterAll(async () => {
  await killWorkers(workers);
  await removeQueue(queue);
  place.cleanup();
});

// A test that failed half-way leaves no worker behind to take the next test's tasks.
afterEach(() => killWorkers(workers));

function spawn(name: string, args: string[] = []): WorkerProcess {
  const worker = startWorker(place, queue.url, name, args);
  workers.push(worker);
  return worker;
}

const submitTask = (name: string, rest: string[]) =>
  berth(['fleet', 'submit', '--queue', queue.url, '--repo', place.remote, '--name', name, ...rest]);

/** SIGTERM: the worker drains and exits; its one JSON result. */
async function stop(worker: WorkerProcess) {
  worker.process.kill('SIGTERM');
  const done = await worker.process;
  expect(done.exitCode, worker.stderr()).toBe(0);
  return resultOf(
    { exitCode: done.exitCode ?? 1, stdout: String(done.stdout), stderr: worker.stderr() },
    'fleet worker',
  );
}

async function running(host: string, task: string): Promise<void> {
  const status = await fleetStatus(queue.url);
  const found = status.tasks.find((t) => t.name === task);
  if (!(found?.state === 'active' && found.host === host && found.step === 'run'))
    throw new Error(`${task} is not running on ${host} yet: ${JSON.stringify(found)}`);
}

/** Counts the queue's 'completed' events of each task while `work` runs. */
async function countingCompletions<T>(work: (counts: Map<string, number>) => Promise<T>): Promise<T> {
  const counts = new Map<string, number>();
  const events = new QueueEvents(QUEUE_NAME, { connection: queueConnectionOptions(queue.url) as never });
  events.on('error', () => {});
  events.on('completed', ({ jobId }) => counts.set(jobId, (counts.get(jobId) ?? 0) + 1));
  await events.waitUntilReady();
  try {
    return await work(counts);
  } finally {
    await events.close();
  }
}

/** The repositories a simulated host's cache holds. */
async function hostRepos(host: string): Promise<string[]> {
  const repos = join(place.home(host), 'fleet', 'repos');
  return readdirSync(repos)
    .map((name) => join(repos, name))
    .filter((dir) => existsSync(join(dir, '.git')));
}

/** Two neighbouring ports, held as another program would hold them. */
async function holdTwoPorts(): Promise<{ low: number; held: Server[] }> {
  for (let tries = 0; ; tries += 1) {
    const low = await getPort({ port: portNumbers(47000, 48999) });
    const first = await listen(low);
    try {
      return { low, held: [first, await listen(low + 1)] };
    } catch (error) {
      first.close();
      if (tries > 20) throw error;
    }
  }
}

/** Holds a port, as another program would. */
function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}

const git = (...args: string[]) => execa('git', args, { cwd: place.remote }).then((r) => r.stdout);

/** The task's result branch on the remote: exactly one commit on the base, adding exactly its own file. */
async function expectOwnCommitOnly(task: string): Promise<string> {
  expect((await git('rev-list', `${place.base}..berth/${task}`)).split('\n')).toHaveLength(1);
  expect(await git('rev-parse', `berth/${task}^`)).toBe(place.base);
  expect(await git('diff', '--name-only', place.base, `berth/${task}`)).toBe(`${task}.txt`);
  return git('rev-parse', `berth/${task}`);
}

/** Commits its own file, then runs on, deaf to SIGTERM (it needs SIGKILL to stop). */
const stubborn = (task: string, seconds: number) =>
  `trap "" TERM; echo ${task} > ${task}.txt && git add ${task}.txt && git commit -qm ${task} && sleep ${seconds}`;

describe('a task whose host loses its lock while the command ignores SIGTERM', () => {
  it('completes exactly once with exactly its commit when its worker is stopped past its lock', {
    timeout: 800_000,
  }, async () => {
    await flushQueue(queue.url);
    const worker = spawn('paused');
    await countingCompletions(async (completions) => {
      await submitTask('stubborn-stop', ['--', 'sh', '-c', stubborn('stubborn-stop', 30)]);
      await eventually(() => running('paused', 'stubborn-stop'), 300_000);
      // Past the 10 s lock: when it wakes, its lock is gone and the task is back in the queue.
      worker.process.kill('SIGSTOP');
      await sleep(16_000);
      worker.process.kill('SIGCONT');
      const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '300', '--json']);
      expect(resultOf(waited, 'fleet wait'), worker.stderr()).toMatchObject({
        failed: [],
        counts: { completed: 1, failed: 0 },
      });
      await eventually(async () => expect(completions.get('stubborn-stop')).toBe(1), 10_000);
    });
    const tip = await expectOwnCommitOnly('stubborn-stop');
    const [task] = (await fleetStatus(queue.url)).tasks;
    expect(task).toMatchObject({ name: 'stubborn-stop', state: 'completed', step: 'done', stalled: false });
    expect(task?.outcome?.commit).toBe(tip);
    expect(task?.attempts).toBeGreaterThanOrEqual(2);
    expect(task?.outcome?.attempt).toMatch(/^stubborn-stop#\d+$/);
    expect(
      task?.history.filter((a) => a.end === 'lost'),
      JSON.stringify(task?.history),
    ).toHaveLength(1);
    expect(task?.history.at(-1)).toMatchObject({ id: task?.outcome?.attempt, end: 'completed' });
    const result = await stop(worker);
    expect(result).toMatchObject({ completed: 1, failed: 0, lost: 1 });
    expect(await hostLeftovers(place, 'paused')).toEqual(NO_LEFTOVERS);
    expect(heldLeases(place)).toBe(0);
  });

  it('completes exactly once with exactly its commit when the queue is killed and comes back after the lock', {
    timeout: 800_000,
  }, async () => {
    await flushQueue(queue.url);
    const worker = spawn('cut-off');
    await submitTask('stubborn-kill', ['--', 'sh', '-c', stubborn('stubborn-kill', 30)]);
    await eventually(() => running('cut-off', 'stubborn-kill'), 300_000);
    // The queue's Redis dies and stays away longer than the lock; its append-only file brings the task back.
    await docker().getContainer(`berth-fleet-queue-${queue.port}`).kill();
    await sleep(14_000);
    const restarted = await berth(['fleet', 'queue', '--port', String(queue.port), '--json'], {
      env: { BERTH_HOME: queue.home },
    });
    expect(resultOf(restarted, 'fleet queue').outcome).toBe('started');
    await countingCompletions(async (completions) => {
      const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '300', '--json']);
      expect(resultOf(waited, 'fleet wait'), worker.stderr()).toMatchObject({
        failed: [],
        counts: { completed: 1, failed: 0 },
      });
      expect(completions.get('stubborn-kill') ?? 0).toBeLessThanOrEqual(1);
    });
    const tip = await expectOwnCommitOnly('stubborn-kill');
    const [task] = (await fleetStatus(queue.url)).tasks;
    expect(task).toMatchObject({ name: 'stubborn-kill', state: 'completed', step: 'done' });
    expect(task?.outcome?.commit).toBe(tip);
    expect(task?.attempts).toBeGreaterThanOrEqual(2);
    // The attempt that ran when the queue went away lost the task (one before it may have met a busy engine).
    expect(
      task?.history.filter((a) => a.end === 'lost'),
      JSON.stringify(task?.history),
    ).toHaveLength(1);
    expect(task?.history.at(-1)).toMatchObject({ id: task?.outcome?.attempt, end: 'completed' });
    const result = await stop(worker);
    expect(result).toMatchObject({ completed: 1, failed: 0 });
    expect(await hostLeftovers(place, 'cut-off')).toEqual(NO_LEFTOVERS);
    expect(heldLeases(place)).toBe(0);
  });
});

describe('a task past its timeout', () => {
  it('is stopped, fails with that reason, keeps what it published, and frees its slot', {
    timeout: 600_000,
  }, async () => {
    await flushQueue(queue.url);
    const worker = spawn('timer', ['--slots', '1']);
    const start = Date.now();
    await submitTask('too-slow', ['--timeout', '5s', '--', 'sh', '-c', stubborn('too-slow', 600)]);
    // One slot: this one runs only once the slow one has let go of it.
    await submitTask('after-it', ['--', 'sh', '-c', stubborn('after-it', 1)]);
    const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '240', '--json']);
    expect(resultOf(waited, 'fleet wait').failed, worker.stderr()).toEqual(['too-slow']);
    // Far less than the 600 s the command would take (the stop itself waits 10 s for a SIGKILL).
    expect(Date.now() - start).toBeLessThan(240_000);
    const status = await fleetStatus(queue.url);
    const slow = status.tasks.find((t) => t.name === 'too-slow');
    expect(slow).toMatchObject({
      state: 'failed',
      failedReason: 'the command ran past its timeout (5s) and was stopped',
      outcome: { commits: 1 },
    });
    expect(slow?.history.at(-1)).toMatchObject({ id: slow?.outcome?.attempt, end: 'failed' });
    // What it did before the stop is on the remote.
    expect(slow?.outcome?.commit).toBe(await expectOwnCommitOnly('too-slow'));
    expect(status.tasks.find((t) => t.name === 'after-it')).toMatchObject({ state: 'completed' });
    expect(await stop(worker)).toMatchObject({ completed: 1, failed: 1 });
    expect(await hostLeftovers(place, 'timer')).toEqual(NO_LEFTOVERS);
  });
});

describe('berth fleet cancel', () => {
  it('removes a waiting task, and stops a running one on its host, keeping its work there', {
    timeout: 600_000,
  }, async () => {
    await flushQueue(queue.url);
    await submitTask('never-runs', ['--', 'true']);
    const removed = await berth(['fleet', 'cancel', 'never-runs', '--queue', queue.url, '--json']);
    expect(resultOf(removed, 'fleet cancel')).toEqual({ name: 'never-runs', outcome: 'removed', host: null });
    expect((await fleetStatus(queue.url)).tasks).toEqual([]);

    const worker = spawn('canceller', ['--slots', '1']);
    const work = `${stubborn('runs-on', 600).replace(' && sleep', ' && echo draft > draft.txt && sleep')}`;
    await submitTask('runs-on', ['--', 'sh', '-c', work]);
    await eventually(() => running('canceller', 'runs-on'), 300_000);
    await eventually(async () => {
      // The command has committed and written its draft before it is cancelled.
      const [repo = ''] = await hostRepos('canceller');
      const ahead = await execa('git', ['rev-list', '--count', `${place.base}..berth/runs-on-1`], {
        cwd: repo,
      });
      expect(ahead.stdout).toBe('1');
      expect(existsSync(join(`${repo}.worktrees`, 'runs-on-1', 'draft.txt'))).toBe(true);
    }, 60_000);
    const cancelled = await berth(['fleet', 'cancel', 'runs-on', '--queue', queue.url, '--json']);
    expect(resultOf(cancelled, 'fleet cancel'), worker.stderr()).toEqual({
      name: 'runs-on',
      outcome: 'cancelled',
      host: 'canceller',
    });
    const [task] = (await fleetStatus(queue.url)).tasks;
    expect(task).toMatchObject({ name: 'runs-on', state: 'failed', cancelled: true });
    expect(task?.failedReason).toMatch(/^cancelled: stopped on canceller before publishing/);
    expect(task?.history.at(-1)).toMatchObject({ end: 'cancelled', host: 'canceller', published: null });
    // Nothing published; its commit and its uncommitted draft are saved as patches on the host.
    expect(
      (
        await execa('git', ['rev-parse', '--verify', '-q', 'berth/runs-on'], {
          cwd: place.remote,
          reject: false,
        })
      ).exitCode,
    ).not.toBe(0);
    const [repo] = await hostRepos('canceller');
    const saved = await execa('sh', ['-c', 'cat .git/berth/saved/*.patch'], { cwd: repo });
    expect(saved.stdout).toContain('runs-on.txt');
    expect(saved.stdout).toContain('draft.txt');
    // Its id may be submitted again at once.
    expect(
      resultOf(await submitTask('runs-on', ['--replace', '--json', '--', 'true']), 'fleet submit').queued,
    ).toBe(1);
    await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '120']);
    expect(await stop(worker)).toMatchObject({ cancelled: 1, completed: 1, failed: 0 });
    expect(await hostLeftovers(place, 'canceller')).toEqual(NO_LEFTOVERS);
    expect(heldLeases(place)).toBe(0);
  });
});

describe('a host that cannot make a task its environment', () => {
  it('sends the task back without counting an attempt, and it runs once the host can', {
    timeout: 600_000,
  }, async () => {
    await flushQueue(queue.url);
    // The worker's own config leases from two ports, both taken: no port is free on this host.
    const { low, held } = await holdTwoPorts();
    const config = join(place.dir, 'two-ports.yaml');
    writeFileSync(
      config,
      `agent:\n  resources: { cpus: 1, memory: 512m }\nports:\n  range: ${low}-${low + 1}\n`,
    );
    const worker = spawn('crowded', ['--config', config]);
    try {
      await submitTask('squeezed', ['--', 'sh', '-c', stubborn('squeezed', 1)]);
      await eventually(async () => {
        const [task] = (await fleetStatus(queue.url)).tasks;
        expect(task?.history.some((a) => a.end === 'host-failure')).toBe(true);
      }, 120_000);
    } finally {
      for (const server of held) server.close();
    }
    const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '240', '--json']);
    expect(resultOf(waited, 'fleet wait').failed, worker.stderr()).toEqual([]);
    const [task] = (await fleetStatus(queue.url)).tasks;
    expect(task).toMatchObject({ state: 'completed', outcome: { exitCode: 0 } });
    expect(task?.history.find((a) => a.end === 'host-failure')?.reason).toMatch(/no free port/);
    expect(task?.outcome?.config).toBe(`the worker's --config ${config}`);
    await expectOwnCommitOnly('squeezed');
    const result = await stop(worker);
    expect(result.completed).toBe(1);
    expect(result.givenBack).toBeGreaterThanOrEqual(1);
    expect(await hostLeftovers(place, 'crowded')).toEqual(NO_LEFTOVERS);
  });
});

describe('the hosts', () => {
  it('refuses a second live worker of one name, and ages a killed host out of the list', {
    timeout: 600_000,
  }, async () => {
    await flushQueue(queue.url);
    const first = spawn('twin');
    await eventually(async () =>
      expect((await fleetStatus(queue.url)).hosts.map((h) => h.name)).toContain('twin'),
    );
    const home = join(place.dir, 'hosts', 'twin-2');
    const second = await berth(['fleet', 'worker', '--name', 'twin', '--json'], {
      env: { BERTH_HOME: home, BERTH_QUEUE_URL: queue.url },
    });
    expect(second.exitCode).toBe(2);
    expect(second.stderr).toMatch(/^berth: error: a worker named twin is already in the fleet \(hint: /);
    expect(existsSync(home)).toBe(false);

    first.process.kill('SIGKILL');
    await first.process;
    await eventually(async () => {
      const host = (await fleetStatus(queue.url)).hosts.find((h) => h.name === 'twin');
      expect(host).toMatchObject({ state: 'gone', silent: true });
    }, 120_000);
    // Its name is free once it is gone; a worker restarted on the same host takes it back at once.
    const again = spawn('twin');
    await eventually(async () =>
      expect((await fleetStatus(queue.url)).hosts.find((h) => h.name === 'twin')).toMatchObject({
        state: 'working',
      }),
    );
    await stop(again);
    expect((await fleetStatus(queue.url)).hosts.find((h) => h.name === 'twin')).toBeUndefined();

    const lost = spawn('lost-host');
    await eventually(async () =>
      expect((await fleetStatus(queue.url)).hosts.map((h) => h.name)).toContain('lost-host'),
    );
    lost.process.kill('SIGKILL');
    await lost.process;
    // Another live worker drops it from the list once it has been gone as long again.
    const keeper = spawn('keeper');
    await eventually(async () => {
      const names = (await fleetStatus(queue.url)).hosts.map((h) => h.name);
      expect(names).toContain('keeper');
      expect(names).not.toContain('lost-host');
    }, 180_000);
    await stop(keeper);
  });
});
