import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import type { ResultOf } from '../src/contract.js';
import { NO_CRASH_SAFETY, PREINITIALISED_PGDATA } from '../src/plan/compose.js';
import { BIN, berth, must, percentile, sampleMemory, start, timed, waitForServices } from './lib.js';

export const BENCH_LABEL = 'dev.berth.bench=true';

/** berth's environment in the benchmark: everything it makes carries the bench's label. */
export const benchEnv = () => ({ ...process.env, BERTH_LABELS: BENCH_LABEL });

/** A berth command on a repository of the benchmark's (it must succeed). */
export const berthIn = (repo: string, args: string[]) =>
  must('node', [BIN, ...args, '--repo', repo], undefined, benchEnv());

/** Commits a berth.yaml to a repository of the benchmark's. */
export async function commitBenchConfig(repo: string, text: string) {
  writeFileSync(join(repo, 'berth.yaml'), text);
  await must('git', ['add', 'berth.yaml'], repo);
  await must(
    'git',
    ['-c', 'user.name=bench', '-c', 'user.email=bench@berth.invalid', 'commit', '-qm', 'berth.yaml'],
    repo,
  );
}
const HANDMADE = new URL('../../compose/handmade.yaml', import.meta.url).pathname;

export interface Images {
  postgres: string;
  postgresPreinitialised: boolean;
  /** The official-style Postgres that runs initdb at start, for the hand-made baseline. */
  postgresInitdb: string;
  redis: string;
  agent: string;
}

/** A small repository to provision agents on. */
export async function smallRepo(parent: string): Promise<string> {
  const root = join(parent, 'small');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'README.md'), 'bench\n');
  await must('git', ['init', '-q', '-b', 'main'], root);
  await must('git', ['add', '-A'], root);
  await must(
    'git',
    ['-c', 'user.name=bench', '-c', 'user.email=bench@berth.invalid', 'commit', '-qm', 'init'],
    root,
  );
  return root;
}

export async function berthOnce(repo: string, name: string) {
  const ready = await timed(() => berth(['provision', name, '--repo', repo, '--json']));
  const down = await timed(() => berth(['teardown', name, '--repo', repo]));
  return { ready: ready.ms, teardown: down.ms };
}

/** git worktree add (or a full clone), then compose up of the plain file, waiting for health. */
export async function handmadeOnce(repo: string, name: string, images: Images, clone: boolean) {
  const folder = join(`${repo}.handmade`, name);
  const [pgPort, redisPort] = [await getPort(), await getPort()];
  const env = {
    ...process.env,
    WORKTREE: folder,
    PG_IMAGE: images.postgresInitdb,
    REDIS_IMAGE: images.redis,
    AGENT_IMAGE: images.agent,
    PG_PORT: String(pgPort),
    REDIS_PORT: String(redisPort),
  };
  const project = `bench-${name}`;
  const compose = ['-p', project, '-f', HANDMADE];
  const ready = await timed(async () => {
    if (clone) await must('git', ['clone', '-q', '--no-hardlinks', `file://${repo}`, folder]);
    else
      await must('git', ['worktree', 'add', '-q', '--no-track', '-b', `bench/${name}`, folder, 'HEAD'], repo);
    await must('docker-compose', [...compose, 'up', '-d'], undefined, env);
    await waitForServices(`postgres://app:app@127.0.0.1:${pgPort}/app`, redisPort, 'app');
  });
  const down = await timed(async () => {
    await must('docker-compose', [...compose, 'down', '-v'], undefined, env);
    if (clone) rmSync(folder, { recursive: true, force: true });
    else await must('git', ['worktree', 'remove', '--force', folder], repo);
  });
  if (!clone) await must('git', ['branch', '-D', `bench/${name}`], repo);
  return { ready: ready.ms, teardown: down.ms };
}

/** The physical floor: worktree add, and three bare `docker run`s on one network, all at once. */
export async function floorOnce(repo: string, name: string, images: Images) {
  const folder = join(`${repo}.floor`, name);
  const network = `bench-floor-${name}`;
  const [pgPort, redisPort] = [await getPort(), await getPort()];
  const label = ['--label', BENCH_LABEL];
  const runArgs = (service: string, extra: string[]) => [
    'run',
    '-d',
    ...label,
    '--name',
    `${network}-${service}`,
    '--network',
    network,
    '--network-alias',
    service,
    ...extra,
  ];
  const ready = await timed(async () => {
    await Promise.all([
      must('git', ['worktree', 'add', '-q', '--no-track', '-b', `floor/${name}`, folder, 'HEAD'], repo),
      (async () => {
        await must('docker', ['network', 'create', ...label, network]);
        await Promise.all([
          must(
            'docker',
            runArgs('postgres', [
              '-e',
              'POSTGRES_USER=app',
              '-e',
              'POSTGRES_PASSWORD=app',
              '-e',
              'POSTGRES_DB=app',
              // The same storage as berth's default: the image's own cluster, no crash safety.
              ...(images.postgresPreinitialised ? ['-e', `PGDATA=${PREINITIALISED_PGDATA}`] : []),
              '--tmpfs',
              '/var/lib/postgresql/data',
              '-p',
              `127.0.0.1:${pgPort}:5432`,
              images.postgres,
              ...NO_CRASH_SAFETY,
            ]),
          ),
          must(
            'docker',
            runArgs('redis', [
              '-p',
              `127.0.0.1:${redisPort}:6379`,
              images.redis,
              'redis-server',
              '--requirepass',
              'app',
            ]),
          ),
          must(
            'docker',
            runArgs('agent', ['--init', '-v', `${folder}:${folder}`, images.agent, 'sleep', 'infinity']),
          ),
        ]);
      })(),
    ]);
    await waitForServices(`postgres://app:app@127.0.0.1:${pgPort}/app`, redisPort, 'app');
  });
  await must('docker', ['rm', '-f', '-v', `${network}-postgres`, `${network}-redis`, `${network}-agent`]);
  await must('docker', ['network', 'rm', network]);
  await must('git', ['worktree', 'remove', '--force', folder], repo);
  await must('git', ['branch', '-D', `floor/${name}`], repo);
  return { ready: ready.ms };
}

/** N agents provisioned at once by `berth up`; then all torn down. */
export async function manyAtOnce(repo: string, count: number) {
  const stopSampling = sampleMemory();
  const wall = await timed(() =>
    start('node', [
      BIN,
      'up',
      '-n',
      String(count),
      '--prefix',
      `n${count}`,
      '--parallel',
      String(count),
      '--repo',
      repo,
      '--json',
    ]),
  );
  const peakMemoryMiB = stopSampling();
  const parsed = JSON.parse(wall.value.stdout || '{}') as { result?: ResultOf<'up'> };
  const outcomes = parsed.result?.agents ?? [];
  const ok = outcomes.filter((o) => o.outcome === 'success');
  const durations = ok.map((o) => o.durationMs ?? 0);
  const failures = outcomes.filter((o) => o.outcome === 'error');
  await Promise.all(ok.map((o) => berth(['teardown', o.name, '--repo', repo, '--force'])));
  return {
    count,
    wallMs: wall.ms,
    p50Ms: percentile(durations, 50),
    p95Ms: percentile(durations, 95),
    failures: failures.length + Math.max(0, count - outcomes.length),
    firstFailure: failures[0]?.error?.message,
    peakMemoryMiB,
  };
}

/** A repository with a long history: `commits` commits over `files` files, made with fast-import. */
export async function longHistoryRepo(parent: string, commits: number, files: number): Promise<string> {
  const root = join(parent, 'long');
  mkdirSync(root, { recursive: true });
  await must('git', ['init', '-q', '-b', 'main'], root);
  const lines: string[] = [];
  const blob = (text: string) => `data ${Buffer.byteLength(text)}\n${text}`;
  for (let commit = 0; commit < commits; commit++) {
    const message = `commit ${commit}`;
    lines.push(
      'commit refs/heads/main',
      `mark :${commit + 1}`,
      `committer bench <bench@berth.invalid> ${1700000000 + commit} +0000`,
      blob(message),
    );
    if (commit > 0) lines.push(`from :${commit}`);
    const touched =
      commit === 0 ? Array.from({ length: files }, (_, i) => i) : [commit % files, (commit * 7) % files];
    for (const file of touched) {
      const text = `file ${file}, revision ${commit}\n${'x'.repeat(900 + (file % 200))}\n`;
      lines.push(`M 100644 inline src/dir${file % 40}/file${file}.txt`, blob(text));
    }
    lines.push('');
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('git', ['fast-import', '--quiet'], {
      cwd: root,
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`fast-import exited with ${code}`)),
    );
    child.stdin.end(lines.join('\n'));
  });
  await must('git', ['reset', '-q', '--hard', 'main'], root);
  await must('git', ['gc', '-q'], root);
  return root;
}

export async function diskPerAgent(repo: string) {
  const scratch = mkdtempSync(join(tmpdir(), 'berth-disk-'));
  const worktree = join(scratch, 'worktree');
  const clone = join(scratch, 'clone');
  await must('git', ['worktree', 'add', '-q', '--detach', worktree, 'HEAD'], repo);
  await must('git', ['clone', '-q', '--no-hardlinks', `file://${repo}`, clone]);
  const kib = async (path: string, ...exclude: string[]) =>
    Number((await must('du', ['-sk', ...exclude.map((e) => `--exclude=${e}`), path])).split('\t')[0]);
  const result = {
    commits: Number(await must('git', ['rev-list', '--count', 'HEAD'], repo)),
    files: Number((await must('git', ['ls-files'], repo)).split('\n').length),
    checkedOutKiB: await kib(clone, '.git'),
    worktreeKiB: await kib(worktree),
    cloneKiB: await kib(clone),
  };
  await must('git', ['worktree', 'remove', '--force', worktree], repo);
  rmSync(scratch, { recursive: true, force: true });
  return result;
}
