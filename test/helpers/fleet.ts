import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { unfence } from '../../src/core/fleet/fence.js';
import { repoId } from '../../src/plan/names.js';
import { systemRuntime } from '../../src/runtime.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth, resultOf } from './cli.js';
import { docker } from './docker.js';

/** A place for one fleet test: a bare remote with a base commit, a shared lease folder, host homes. */
export interface FleetPlace {
  dir: string;
  remote: string;
  base: string;
  leases: string;
  home: (host: string) => string;
  cleanup: () => void;
}

export async function fleetPlace(files: Record<string, string> = {}): Promise<FleetPlace> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-fleet-'));
  const source = join(dir, 'source');
  mkdirSync(source);
  writeFileSync(join(source, 'README.md'), '# a project agents work on\n');
  // A small stack: the fleet's mechanics are under test, not Postgres.
  writeFileSync(join(source, 'berth.yaml'), 'agent:\n  resources: { cpus: 1, memory: 512m }\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(source, name), text);
  const git = (cwd: string, ...args: string[]) => execa('git', args, { cwd });
  await git(source, 'init', '-q', '-b', 'main');
  await git(source, 'add', '-A');
  await git(source, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'base');
  const remote = join(dir, 'remote.git');
  await execa('git', ['clone', '-q', '--bare', source, remote]);
  const base = (await git(remote, 'rev-parse', 'main')).stdout.trim();
  return {
    dir,
    remote,
    base,
    leases: join(dir, 'leases'),
    home: (host) => join(dir, 'hosts', host),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The embedded queue on a free port, with its own berth home; resolves to its URL. */
export async function startQueue(
  dir: string,
  bind = '127.0.0.1',
): Promise<{ url: string; port: number; home: string }> {
  const port = await getPort();
  const home = join(dir, 'queue-home');
  const run = await berth(['fleet', 'queue', '--port', String(port), '--bind', bind, '--json'], {
    env: { BERTH_HOME: home },
  });
  return { url: resultOf(run, 'fleet queue').url, port, home };
}

/**
 * Removes a test's queue with `fleet queue --stop --remove` (its container, volume, password file and
 * fence rules), then the fence rules of workers that were killed (a worker that exits removes its own).
 */
export async function removeQueue(queue: { port: number; home: string } | undefined): Promise<void> {
  if (queue) {
    const removed = await berth(['fleet', 'queue', '--port', String(queue.port), '--stop', '--remove'], {
      env: { BERTH_HOME: queue.home },
    });
    if (removed.exitCode !== 0) throw new Error(`removing the queue failed: ${removed.stderr}`);
  }
  await unfence(undefined, systemRuntime);
}

/** Empties the queue's Redis between tests. */
export async function flushQueue(url: string): Promise<void> {
  const redis = new Redis(url);
  try {
    await redis.flushall();
  } finally {
    redis.disconnect();
  }
}

export interface WorkerProcess {
  name: string;
  process: ResultPromise;
  stderr: () => string;
}

/** A simulated host: a worker process with its own berth home and repository cache. */
export function startWorker(
  place: FleetPlace,
  url: string,
  name: string,
  args: string[] = [],
): WorkerProcess {
  let stderr = '';
  const child = execa(
    process.execPath,
    [
      BIN,
      'fleet',
      'worker',
      '--name',
      name,
      '--slots',
      '2',
      '--lock-seconds',
      '10',
      '--stalled-seconds',
      '5',
      '--json',
      ...args,
    ],
    {
      reject: false,
      stdin: 'ignore',
      // A SIGTERM drains: no SIGKILL after it (execa's default after 5 s).
      forceKillAfterDelay: false,
      env: { BERTH_HOME: place.home(name), BERTH_LEASES: place.leases, BERTH_QUEUE_URL: url },
    },
  );
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { name, process: child, stderr: () => stderr };
}

export async function fleetStatus(url: string) {
  return resultOf(await berth(['fleet', 'status', '--queue', url, '--json']), 'fleet status');
}

/** What a simulated host still has of fleet tasks: agents, branches, worktrees, Docker objects, leases. */
export async function hostLeftovers(place: FleetPlace, host: string) {
  const repos = join(place.home(host), 'fleet', 'repos');
  const found = { agents: 0, branches: 0, worktrees: 0, containers: 0, networks: 0, volumes: 0 };
  if (!existsSync(repos)) return found;
  for (const name of readdirSync(repos)) {
    const root = join(repos, name);
    if (!existsSync(join(root, '.git'))) continue;
    const commonGitDir = realpathSync(join(root, '.git'));
    found.agents += Object.keys(readState(join(commonGitDir, 'berth')).agents).length;
    const branches = (
      await execa('git', ['for-each-ref', '--format=%(refname)', 'refs/heads/'], { cwd: root })
    ).stdout;
    found.branches += branches.split('\n').filter((ref) => ref && ref !== 'refs/heads/main').length;
    const worktrees = (await execa('git', ['worktree', 'list', '--porcelain'], { cwd: root })).stdout;
    found.worktrees += worktrees.split('\n').filter((line) => line.startsWith('worktree ')).length - 1;
    const filters = { label: [`dev.berth.repo=${repoId(commonGitDir)}`] };
    const client = docker();
    found.containers += (await client.listContainers({ all: true, filters })).length;
    found.networks += (await client.listNetworks({ filters })).length;
    found.volumes += (await client.listVolumes({ filters })).Volumes?.length ?? 0;
  }
  return found;
}

export const NO_LEFTOVERS = { agents: 0, branches: 0, worktrees: 0, containers: 0, networks: 0, volumes: 0 };

/** The host leases every simulated host shares (one engine, one port space). */
export function heldLeases(place: FleetPlace): number {
  const file = join(place.leases, 'leases.json');
  if (!existsSync(file)) return 0;
  const leases = JSON.parse(readFileSync(file, 'utf8')) as { ports: object; subnets: object };
  return Object.keys(leases.ports).length + Object.keys(leases.subnets).length;
}

/** A tasks file of `count` tasks, each committing its own file. */
export function tasksFile(
  place: FleetPlace,
  names: string[],
  command: (name: string) => string,
  extra = '',
): string {
  const file = join(place.dir, `tasks-${names[0]}.yaml`);
  const lines = names.flatMap((name) => [
    `- name: ${name}`,
    `  repo: ${place.remote}`,
    `  command: ${JSON.stringify(command(name))}`,
    ...(extra ? [`  ${extra}`] : []),
  ]);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * Kills every worker of `workers` still running (a stopped one is woken first, so it dies at once) and
 * waits for each: what a test leaves must not take the next test's tasks.
 */
export async function killWorkers(workers: WorkerProcess[]): Promise<void> {
  const live = workers.filter(
    (worker) => worker.process.exitCode === null && worker.process.signalCode === null,
  );
  for (const worker of live) {
    worker.process.kill('SIGCONT');
    worker.process.kill('SIGKILL');
  }
  await Promise.all(live.map((worker) => worker.process));
}
