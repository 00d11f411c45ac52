import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import getPort from 'get-port';
import { queueConnectionOptions } from '../src/adapters/queue-redis.js';
import { unfence } from '../src/core/fleet/fence.js';
import { QUEUE_NAME } from '../src/plan/fleet.js';
import { systemRuntime } from '../src/runtime.js';
import { BIN, must, stats, timed } from './lib.js';
import { BENCH_LABEL } from './scenarios.js';

export interface FleetBench {
  workers: number;
  slots: number;
  tasks: number;
  /** From submit until the last task completed. */
  wallMs: number;
  /** One task on a fleet host (fetch, provision, run, publish, teardown), median over the 30. */
  taskMedianMs: number;
  /** One task submitted to an idle fleet, until `fleet wait` returns, median of 3. */
  singleMs: number;
  /** The same task alone with `berth run --on-exit teardown`, median of 3. */
  runAloneMs: number;
  /** From SIGKILL of a worker until each of its tasks was running on another host (with the default timings). */
  deathToRerunMs: number[];
  lockSeconds: number;
  stalledSeconds: number;
}

const commit = (name: string) =>
  `echo ${name} > ${name}.txt && git add ${name}.txt && git commit -qm ${name}`;

/** 3 simulated hosts x 2 slots on this machine, one engine: 30 short tasks, then a host's death. */
export async function fleetBench(scratch: string, log: (message: string) => void): Promise<FleetBench> {
  const dir = join(scratch, 'fleet');
  const source = join(dir, 'source');
  mkdirSync(source, { recursive: true });
  writeFileSync(join(source, 'README.md'), 'fleet bench\n');
  await must('git', ['init', '-q', '-b', 'main'], source);
  await must('git', ['add', '-A'], source);
  await must(
    'git',
    ['-c', 'user.name=b', '-c', 'user.email=b@berth.invalid', 'commit', '-qm', 'init'],
    source,
  );
  const remote = join(dir, 'remote.git');
  await must('git', ['clone', '-q', '--bare', source, remote]);
  const env = { ...process.env, BERTH_LABELS: BENCH_LABEL };
  const port = await getPort();
  const queueUp = await must('node', [BIN, 'fleet', 'queue', '--port', String(port), '--json'], undefined, {
    ...env,
    BERTH_HOME: join(dir, 'queue'),
  });
  const url = (JSON.parse(queueUp) as { result: { url: string } }).result.url;
  const queue = new Queue(QUEUE_NAME, { connection: queueConnectionOptions(url) as never });

  log('fleet: one task alone with berth run');
  const alone: number[] = [];
  for (let i = 0; i < 3; i++) {
    const name = `alone-${i}`;
    const ran = await timed(() =>
      must(
        'node',
        [BIN, 'run', name, '--repo', source, '--on-exit', 'teardown', '--', 'sh', '-c', commit(name)],
        undefined,
        env,
      ),
    );
    alone.push(ran.ms);
    await must('git', ['branch', '-D', `berth/${name}`], source);
  }

  const workers = new Map<string, ReturnType<typeof spawn>>();
  const startWorker = (name: string, timings: string[]) => {
    const child = spawn('node', [BIN, 'fleet', 'worker', '--name', name, '--slots', '2', ...timings], {
      env: {
        ...env,
        BERTH_HOME: join(dir, 'hosts', name),
        BERTH_LEASES: join(dir, 'leases'),
        BERTH_QUEUE_URL: url,
      },
      stdio: 'ignore',
    });
    workers.set(name, child);
    return child;
  };
  const submit = async (names: string[], command: (name: string) => string) => {
    const file = join(dir, `${names[0]}.yaml`);
    writeFileSync(
      file,
      names
        .map((n) => `- { name: ${n}, repo: ${remote}, command: ${JSON.stringify(command(n))} }`)
        .join('\n'),
    );
    await must('node', [BIN, 'fleet', 'submit', '--queue', url, '--tasks', file]);
  };
  const wait = () => must('node', [BIN, 'fleet', 'wait', '--queue', url, '--timeout', '900']);

  try {
    for (const name of ['host-1', 'host-2', 'host-3']) startWorker(name, []);
    await sleep(3000); // the workers join (host init, leftovers) before the clock starts
    log('fleet: one task at a time on an idle fleet');
    const single: number[] = [];
    for (let i = 0; i < 3; i++) {
      const name = `single-${i}`;
      single.push((await timed(() => submit([name], commit).then(wait))).ms);
    }
    log('fleet: 30 tasks on 3 hosts x 2 slots');
    const names = Array.from({ length: 30 }, (_, i) => `task-${i + 1}`);
    const wall = await timed(async () => {
      await submit(names, commit);
      await wait();
    });
    const jobs = await Promise.all(names.map((name) => queue.getJob(name)));
    const durations = jobs.map((job) => (job?.finishedOn ?? 0) - (job?.processedOn ?? 0));

    log('fleet: a host dies mid-task (default lock 30 s, stalled check 15 s)');
    const slow = Array.from({ length: 6 }, (_, i) => `slow-${i + 1}`);
    await submit(slow, (name) => `${commit(name)} && sleep 20`);
    let victims: string[] = [];
    while (victims.length === 0) {
      await sleep(200);
      const active = await queue.getJobs(['active']);
      victims = active.filter((job) => job.processedBy === 'host-1').map((job) => String(job.id));
    }
    const killedAt = Date.now();
    workers.get('host-1')?.kill('SIGKILL');
    await wait();
    const rerun = await Promise.all(victims.map((id) => queue.getJob(id)));
    // The dead host comes back and clears what it left.
    startWorker('host-1', []);
    await sleep(15_000);
    const deathToRerunMs = rerun.map((job) => (job?.processedOn ?? killedAt) - killedAt);
    return {
      workers: 3,
      slots: 2,
      tasks: names.length,
      wallMs: wall.ms,
      taskMedianMs: stats(durations).median,
      runAloneMs: stats(alone).median,
      singleMs: stats(single).median,
      deathToRerunMs,
      lockSeconds: 30,
      stalledSeconds: 15,
    };
  } finally {
    const live = [...workers.values()].filter(
      (child) => child.exitCode === null && child.signalCode === null,
    );
    const exits = live.map((child) => new Promise((resolve) => child.on('exit', resolve)));
    for (const child of live) child.kill('SIGTERM');
    await Promise.race([Promise.all(exits), sleep(120_000)]);
    await queue.close();
    // The queue with its data and its fence rules; then the rules of any worker that was killed.
    await must('node', [BIN, 'fleet', 'queue', '--port', String(port), '--stop', '--remove'], undefined, {
      ...env,
      BERTH_HOME: join(dir, 'queue'),
    });
    await unfence(undefined, systemRuntime);
  }
}
