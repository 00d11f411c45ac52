import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { execa } from 'execa';
import getPort from 'get-port';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queueConnectionOptions } from '../../src/adapters/queue-redis.js';
import { QUEUE_NAME } from '../../src/plan/fleet.js';
import { berth, expectCleanStderr, resultOf } from '../helpers/cli.js';
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
  tasksFile,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { eventually } from '../helpers/wait.js';

let place: FleetPlace;
let queue: { url: string; port: number; home: string };

/** `berth fleet submit` of one task to the test's queue: its repository, id, then flags and `--` command. */
const submitTask = (repo: string, name: string, rest: string[]) =>
  berth(['fleet', 'submit', '--queue', queue.url, '--repo', repo, '--name', name, ...rest]);
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

async function taskRunning(host: string, step = 'run'): Promise<string[]> {
  const status = await fleetStatus(queue.url);
  const running = status.tasks.filter((t) => t.state === 'active' && t.host === host && t.step === step);
  if (running.length === 0)
    throw new Error(`no task of ${host} at step ${step} yet: ${JSON.stringify(status.tasks)}`);
  return running.map((t) => t.name);
}

/** berth's fence rules on this host, as iptables prints them. */
const fenceRules = async () =>
  (await execa('iptables', ['-w', '-S'])).stdout.split('\n').filter((line) => line.includes('berth:'));

const commitOwnFile = (name: string) =>
  `echo ${name} > ${name}.txt && git add ${name}.txt && git commit -qm ${name} && sleep 2`;

describe('a fleet of three hosts', () => {
  it('runs 30 tasks exactly once, though one host is killed mid-task, and leaves nothing behind', {
    timeout: 900_000,
  }, async () => {
    const names = Array.from({ length: 30 }, (_, i) => `t-${String(i + 1).padStart(2, '0')}`);
    const completions = new Map<string, number>();
    const events = new QueueEvents(QUEUE_NAME, { connection: queueConnectionOptions(queue.url) as never });
    events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
    await events.waitUntilReady();
    try {
      const submitted = resultOf(
        await berth([
          'fleet',
          'submit',
          '--queue',
          queue.url,
          '--tasks',
          tasksFile(place, names, commitOwnFile),
          '--json',
        ]),
        'fleet submit',
      );
      expect(submitted.queued).toBe(30);

      const doomed = spawn('host-1');
      spawn('host-2');
      spawn('host-3');
      // SIGKILL while it runs tasks: its containers keep running, its locks stop being renewed.
      const lost = await eventually(() => taskRunning('host-1'), 300_000);
      doomed.process.kill('SIGKILL');
      await doomed.process;

      const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '600', '--json'], {});
      expect(resultOf(waited, 'fleet wait')).toMatchObject({
        failed: [],
        counts: { completed: 30, failed: 0 },
      });
      expect(waited.exitCode).toBe(0);
      await eventually(async () => expect(completions.size).toBe(30), 10_000);
      expect([...completions.values()].every((count) => count === 1)).toBe(true);

      // Each result branch: exactly its own commit on top of the base, whoever ran it and however often.
      const git = (...args: string[]) => execa('git', args, { cwd: place.remote });
      const branches = (
        await git('for-each-ref', '--format=%(refname:short)', 'refs/heads/berth/')
      ).stdout.split('\n');
      expect(branches.sort()).toEqual(names.map((name) => `berth/${name}`));
      for (const name of names) {
        expect((await git('rev-list', `${place.base}..berth/${name}`)).stdout.split('\n')).toHaveLength(1);
        expect((await git('rev-parse', `berth/${name}^`)).stdout).toBe(place.base);
        expect((await git('diff', '--name-only', place.base, `berth/${name}`)).stdout).toBe(`${name}.txt`);
      }

      // The killed host comes back: what it left (containers still running, worktrees, branches, leases) goes.
      expect(await hostLeftovers(place, 'host-1')).not.toEqual(NO_LEFTOVERS);
      const back = spawn('host-1');
      await eventually(
        async () => expect(await hostLeftovers(place, 'host-1')).toEqual(NO_LEFTOVERS),
        60_000,
      );

      const status = await fleetStatus(queue.url);
      expect(status.counts).toEqual({
        waiting: 0,
        active: 0,
        delayed: 0,
        completed: 30,
        failed: 0,
        stalled: 0,
      });
      for (const task of status.tasks) {
        expect(task).toMatchObject({ state: 'completed', step: 'done', branch: `berth/${task.name}` });
        expect(task.outcome).toMatchObject({ exitCode: 0, commits: 1, branch: `berth/${task.name}` });
        expect(task.outcome?.commit).toBe((await git('rev-parse', `berth/${task.name}`)).stdout);
      }
      for (const name of lost) {
        const task = status.tasks.find((t) => t.name === name);
        expect(task?.attempts).toBeGreaterThanOrEqual(2);
        expect(task?.outcome?.host).not.toBe('host-1');
      }
      expect(status.hosts.map((h) => h.name).sort()).toEqual(['host-1', 'host-2', 'host-3']);

      const results = await Promise.all(workers.filter((w) => w !== doomed).map(stop));
      expect(results.find((r) => r.name === 'host-1')?.cleared.some((c) => c.what === 'agent')).toBe(true);
      expect(back.stderr()).not.toContain(new URL(queue.url).password);
      for (const host of ['host-1', 'host-2', 'host-3'])
        expect(await hostLeftovers(place, host)).toEqual(NO_LEFTOVERS);
      expect(heldLeases(place)).toBe(0);
      expect((await fleetStatus(queue.url)).hosts).toEqual([]);
    } finally {
      await events.close();
    }
  });
});

describe('draining on SIGTERM', () => {
  it('lets a running task finish within the grace period', { timeout: 600_000 }, async () => {
    await flushQueue(queue.url);
    const worker = spawn('drainer', ['--slots', '1']);
    await submitTask(place.remote, 'short', ['--', 'sh', '-c', `${commitOwnFile('short')} && sleep 3`]);
    await eventually(() => taskRunning('drainer'), 300_000);
    const own = `berth:worker:${worker.process.pid}:`;
    expect((await fenceRules()).filter((rule) => rule.includes(own)).length).toBeGreaterThan(0);
    const result = await stop(worker);
    expect(result).toMatchObject({ completed: 1, failed: 0, givenBack: 0, lost: 0, cancelled: 0 });
    // A worker that leaves takes its fence rules with it.
    expect((await fenceRules()).filter((rule) => rule.includes(own))).toEqual([]);
    expect((await fleetStatus(queue.url)).tasks[0]).toMatchObject({ name: 'short', state: 'completed' });
    expect(await hostLeftovers(place, 'drainer')).toEqual(NO_LEFTOVERS);
  });

  it('gives a task back to the queue when the grace period runs out, keeping nothing', {
    timeout: 600_000,
  }, async () => {
    await flushQueue(queue.url);
    const worker = spawn('impatient', ['--slots', '1', '--drain-seconds', '1']);
    await submitTask(place.remote, 'long', ['--', 'sleep', '600']);
    await eventually(() => taskRunning('impatient'), 300_000);
    const result = await stop(worker);
    expect(result).toMatchObject({ completed: 0, failed: 0, givenBack: 1, lost: 0 });
    const [task] = (await fleetStatus(queue.url)).tasks;
    expect(task).toMatchObject({ name: 'long', state: 'waiting', step: 'given-back', stalls: 0 });
    expect(await hostLeftovers(place, 'impatient')).toEqual(NO_LEFTOVERS);
    expect(heldLeases(place)).toBe(0);
  });
});

describe('bad input and failures', () => {
  it('a second submit of a task id is a no-op that says so', async () => {
    await flushQueue(queue.url);
    const submit = () => submitTask(place.remote, 'twice', ['--json', '--', 'true']);
    expect(resultOf(await submit(), 'fleet submit').tasks).toEqual([{ name: 'twice', outcome: 'queued' }]);
    const again = resultOf(await submit(), 'fleet submit');
    expect(again).toEqual({ tasks: [{ name: 'twice', outcome: 'already-waiting' }], queued: 0, skipped: 1 });
    expect((await fleetStatus(queue.url)).counts.waiting).toBe(1);
  });

  it('refuses a wrong password and an unreachable queue in one line each, making nothing', async () => {
    const wrong = queue.url.replace(/:[^:@/]+@/, ':not-the-password@');
    for (const command of [
      ['status'],
      ['wait'],
      ['submit', '--repo', place.remote, '--name', 'x', '--', 'true'],
    ]) {
      const [verb = '', ...rest] = command;
      const run = await berth(['fleet', verb, '--queue', wrong, ...rest]);
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toMatch(
        /^berth: error: the queue at 127\.0\.0\.1:\d+ refused the password \(hint: /,
      );
      expect(run.stderr).not.toContain('not-the-password');
      expect(expectCleanStderr(run.stderr)).toEqual([]);
    }
    const worker = await berth(['fleet', 'worker', '--name', 'refused'], {
      env: { BERTH_HOME: place.home('refused'), BERTH_QUEUE_URL: wrong },
    });
    expect(worker.exitCode).toBe(2);
    expect(worker.stderr).toMatch(/refused the password/);
    expect(existsSync(place.home('refused'))).toBe(false);

    const nobody = 'redis://:pw@127.0.0.1:1';
    const run = await berth(['fleet', 'status', '--queue', nobody, '--json']);
    expect(run.exitCode).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({ outcome: 'error', error: { code: 'queue-unreachable' } });
    expect(run.stderr).toMatch(/^berth: error: the queue at 127\.0\.0\.1:1 does not answer .*\(hint: /);
  });

  it('gives up in one line each on a queue address that takes connections and never answers', {
    timeout: 120_000,
  }, async () => {
    const silent = createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const url = `redis://:pw@127.0.0.1:${port}`;
    const home = join(place.dir, 'hosts', 'hung');
    try {
      const runs = await Promise.all(
        [
          ['status'],
          ['wait'],
          ['submit', '--repo', place.remote, '--name', 'x', '--', 'true'],
          ['cancel', 'x'],
          ['worker', '--name', 'hung'],
        ].map(async ([verb = '', ...rest]) => {
          const started = Date.now();
          const run = await berth(['fleet', verb, '--queue', url, ...rest], { env: { BERTH_HOME: home } });
          return { verb, run, seconds: (Date.now() - started) / 1000 };
        }),
      );
      for (const { verb, run, seconds } of runs) {
        expect(run.exitCode, `${verb}: ${run.stderr}`).toBe(3);
        expect(run.stderr).toMatch(
          new RegExp(
            `^berth: error: the queue at 127\\.0\\.0\\.1:${port} does not answer \\(.+\\) \\(hint: `,
          ),
        );
        expect(expectCleanStderr(run.stderr)).toEqual([]);
        // The README's bound: 5 s to connect and 10 s for a reply (a CLI start besides); never a hang.
        expect(seconds, verb).toBeLessThan(60);
      }
      expect(existsSync(home)).toBe(false);
    } finally {
      silent.close();
    }
  });

  it('checks a tasks file whole and queues nothing when it has errors', async () => {
    await flushQueue(queue.url);
    const file = tasksFile(place, ['ok-1', 'ok-1', 'Bad_Name'], () => 'true');
    const run = await berth(['fleet', 'submit', '--queue', queue.url, '--tasks', file]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/has 2 problem\(s\); no task was started/);
    expect(run.stderr).toContain('ok-1: given to more than one task');
    expect(run.stderr).toContain('tasks[2] (Bad_Name).name');
    expect((await fleetStatus(queue.url)).tasks).toEqual([]);
  });

  it('fails a task whose repository cannot be fetched, with the reason, and runs the others', {
    timeout: 300_000,
  }, async () => {
    await flushQueue(queue.url);
    const worker = spawn('fetcher');
    const gone = `file://${place.dir}/no-such-remote.git`;
    await submitTask(gone, 'unfetchable', ['--attempts', '3', '--', 'true']);
    await submitTask(place.remote, 'fetchable', ['--', 'sh', '-c', commitOwnFile('fetchable')]);
    const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '300', '--json']);
    expect(waited.exitCode).toBe(1);
    expect(resultOf(waited, 'fleet wait').failed).toEqual(['unfetchable']);
    const status = await fleetStatus(queue.url);
    const failed = status.tasks.find((t) => t.name === 'unfetchable');
    expect(failed).toMatchObject({ state: 'failed', attempts: 1 });
    expect(failed?.failedReason).toMatch(
      /^the repository file:\/\/.*no-such-remote\.git cannot be fetched: /,
    );
    expect(status.tasks.find((t) => t.name === 'fetchable')).toMatchObject({ state: 'completed' });
    await stop(worker);
    expect(await hostLeftovers(place, 'fetcher')).toEqual(NO_LEFTOVERS);
  });

  it('does not retry a failing command unless asked, and then keeps its outcome and log', {
    timeout: 300_000,
  }, async () => {
    await flushQueue(queue.url);
    const worker = spawn('failer');
    await submitTask(place.remote, 'once', ['--', 'sh', '-c', 'echo first try; exit 3']);
    await submitTask(place.remote, 'twice', ['--attempts', '2', '--', 'sh', '-c', 'echo again; exit 4']);
    const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '300', '--json']);
    expect(resultOf(waited, 'fleet wait').failed.sort()).toEqual(['once', 'twice']);
    const status = await fleetStatus(queue.url);
    expect(status.tasks.find((t) => t.name === 'once')).toMatchObject({
      attempts: 1,
      failedReason: 'the command exited with 3',
      outcome: { exitCode: 3, commits: 0 },
      log: ['first try'],
    });
    expect(status.tasks.find((t) => t.name === 'twice')).toMatchObject({
      attempts: 2,
      outcome: { exitCode: 4 },
    });
    await stop(worker);
    expect(await hostLeftovers(place, 'failer')).toEqual(NO_LEFTOVERS);
  });
});

describe('the queue', () => {
  it('--stop takes its fence rules away; --remove its container, volume and password file', {
    timeout: 120_000,
  }, async () => {
    const port = await getPort();
    const home = join(place.dir, 'spare-queue');
    const queueCommand = (...args: string[]) =>
      berth(['fleet', 'queue', '--port', String(port), '--json', ...args], { env: { BERTH_HOME: home } });
    expect(resultOf(await queueCommand(), 'fleet queue').outcome).toBe('started');
    const own = `berth:queue:${port}`;
    expect((await fenceRules()).filter((rule) => rule.includes(own)).length).toBeGreaterThan(0);
    const running = await queueCommand('--remove');
    expect(running.exitCode).toBe(2);
    expect(JSON.parse(running.stdout)).toMatchObject({ outcome: 'error', error: { code: 'queue-running' } });

    expect(resultOf(await queueCommand('--stop'), 'fleet queue').outcome).toBe('stopped');
    expect((await fenceRules()).filter((rule) => rule.includes(own))).toEqual([]);
    const name = `berth-fleet-queue-${port}`;
    expect((await docker().getContainer(name).inspect()).State.Running).toBe(false);
    expect(existsSync(join(home, 'fleet', `queue-${port}.json`))).toBe(true);

    expect(resultOf(await queueCommand('--remove'), 'fleet queue').outcome).toBe('removed');
    await expect(docker().getContainer(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(docker().getVolume(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(existsSync(join(home, 'fleet', `queue-${port}.json`))).toBe(false);
    expect(resultOf(await queueCommand('--remove'), 'fleet queue').outcome).toBe('removed');
  });

  it('is idempotent, and --stop keeps its tasks for the next start', { timeout: 120_000 }, async () => {
    await flushQueue(queue.url);
    await submitTask(place.remote, 'kept', ['--', 'true']);
    const again = await berth(['fleet', 'queue', '--port', String(queue.port), '--json'], {
      env: { BERTH_HOME: queue.home },
    });
    expect(resultOf(again, 'fleet queue')).toMatchObject({ outcome: 'running', url: queue.url });
    const stopped = await berth(['fleet', 'queue', '--port', String(queue.port), '--stop', '--json'], {
      env: { BERTH_HOME: queue.home },
    });
    expect(resultOf(stopped, 'fleet queue').outcome).toBe('stopped');
    expect((await berth(['fleet', 'status', '--queue', queue.url])).exitCode).toBe(3);
    const started = await berth(['fleet', 'queue', '--port', String(queue.port), '--json'], {
      env: { BERTH_HOME: queue.home },
    });
    expect(resultOf(started, 'fleet queue')).toMatchObject({ outcome: 'started', url: queue.url });
    await eventually(async () =>
      expect((await fleetStatus(queue.url)).tasks.map((t) => t.name)).toEqual(['kept']),
    );
  });
});
