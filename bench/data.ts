import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { BIN, must, stats, timed } from './lib.js';
import { BENCH_LABEL } from './scenarios.js';

export interface DataBench {
  migrations: number;
  /** The seeded database's size, as Postgres counts it. */
  databaseBytes: number;
  /** The first agent on a base: migrate, seed, and the template saved. */
  firstMs: number;
  /** Later agents on the same base, from the template: median of 3. */
  fromTemplateMs: number;
  /** One agent with templates off: all migrations and the seed again. */
  withoutTemplateMs: number;
  /** `CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY` of the same data in a running Postgres. */
  bareCopyMs: number;
  /** 10 agents provisioned at once on a new base: wall time, and how many seeds ran. */
  tenAtOnceMs: number;
  tenAtOnceSeeds: number;
  /** `berth db reset` of the seeded database. */
  resetMs: number;
  /** Provision of the example app (setup: npm ci) with a cold and a warm shared package cache. */
  npmColdMs: number;
  npmWarmMs: number;
  /** `berth provision` (a CLI process) with no pool, and taking a ready environment from the pool: medians of 3. */
  coldMs: number;
  fromPoolMs: number;
}

const HOOK = resolve('test/fixtures/db-hook.mjs');
const MIGRATIONS = 300;
/** Rows of about 1 KiB: a database of about 1 GB. */
const SEED_ROWS = 1_000_000;

function writeApp(dir: string, templates: boolean) {
  writeFileSync(
    join(dir, 'berth.yaml'),
    [
      'postgres:',
      `  template: { enabled: ${templates}, key: files, files: [seed.sql, migrations] }`,
      'redis: { enabled: false }',
      'hooks:',
      `  migrate: [{ run: node ${HOOK} migrate, on: host, timeout: 30m }]`,
      `  seed: [{ run: node ${HOOK} seed, on: host, timeout: 30m }]`,
      '',
    ].join('\n'),
  );
}

/** An app with 300 migrations and a seed of about 1 GB. */
async function bigApp(dir: string) {
  mkdirSync(join(dir, 'migrations'), { recursive: true });
  writeFileSync(
    join(dir, 'migrations', '000.sql'),
    'CREATE TABLE big (id bigint PRIMARY KEY, body text NOT NULL);',
  );
  for (let i = 1; i < MIGRATIONS; i++) {
    const n = String(i).padStart(3, '0');
    writeFileSync(
      join(dir, 'migrations', `${n}.sql`),
      `CREATE TABLE t${n} (id serial PRIMARY KEY, name text, created timestamptz DEFAULT now()); CREATE INDEX t${n}_name ON t${n} (name);`,
    );
  }
  writeFileSync(
    join(dir, 'seed.sql'),
    `INSERT INTO big SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, ${SEED_ROWS}) g;`,
  );
  writeApp(dir, true);
  await must('git', ['init', '-q', '-b', 'main'], dir);
  await must('git', ['add', '-A'], dir);
  await must('git', ['-c', 'user.name=b', '-c', 'user.email=b@berth.invalid', 'commit', '-qm', 'app'], dir);
}

async function provisionMs(repo: string, name: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  return (await timed(() => must('node', [BIN, 'provision', name, '--repo', repo, ...extra], undefined, env)))
    .ms;
}

async function databaseUrl(repo: string, name: string, env: NodeJS.ProcessEnv): Promise<string> {
  const out = await must(
    'node',
    [BIN, 'env', name, '--repo', repo, '--show-secrets', '--json'],
    undefined,
    env,
  );
  return (JSON.parse(out) as { result: { env: Record<string, string> } }).result.env.DATABASE_URL as string;
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

export async function dataBench(scratch: string, log: (message: string) => void): Promise<DataBench> {
  const repo = join(scratch, 'data-app');
  mkdirSync(repo, { recursive: true });
  await bigApp(repo);
  const seeds = join(scratch, 'seeds.txt');
  writeFileSync(seeds, '');
  const env = { ...process.env, BERTH_LABELS: BENCH_LABEL, SEED_COUNT_FILE: seeds };
  const seedCount = () => readFileSync(seeds, 'utf8').split('\n').filter(Boolean).length;
  const teardown = (name: string) =>
    must('node', [BIN, 'teardown', name, '--repo', repo, '--force'], undefined, env);

  log('data: the first agent builds the template (300 migrations, a 1 GB seed)');
  const firstMs = await provisionMs(repo, 'first', env);
  const url = await databaseUrl(repo, 'first', env);
  const [size] = await query<{ bytes: string }>(url, 'SELECT pg_database_size(current_database()) AS bytes');
  const database = new URL(url).pathname.slice(1);
  const bareCopyMs = (
    await timed(() =>
      query(
        url.replace(/\/[^/]*$/, '/postgres'),
        `CREATE DATABASE copy TEMPLATE "${database}" STRATEGY FILE_COPY`,
      ),
    )
  ).ms;

  log('data: agents from the template');
  const later: number[] = [];
  for (const name of ['t1', 't2', 't3']) later.push(await provisionMs(repo, name, env));
  log('data: db reset of the seeded database');
  const resetMs = (
    await timed(() => must('node', [BIN, 'db', 'reset', 't1', '--repo', repo], undefined, env))
  ).ms;
  for (const name of ['t1', 't2', 't3']) await teardown(name);

  log('data: one agent with templates off');
  const off = join(scratch, 'off.yaml');
  writeApp(scratch, false);
  cpSync(join(scratch, 'berth.yaml'), off);
  const withoutTemplateMs = await provisionMs(repo, 'off', env, ['--config', off]);
  await teardown('off');

  log('data: 10 agents at once on a new base');
  writeFileSync(
    join(repo, 'seed.sql'),
    `INSERT INTO big SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, ${SEED_ROWS / 10}) g;`,
  );
  await must(
    'git',
    ['-c', 'user.name=b', '-c', 'user.email=b@berth.invalid', 'commit', '-qam', 'new seed'],
    repo,
  );
  const before = seedCount();
  const names = Array.from({ length: 10 }, (_, i) => `n${i}`);
  const tenAtOnceMs = (await timed(() => Promise.all(names.map((name) => provisionMs(repo, name, env))))).ms;
  const tenAtOnceSeeds = seedCount() - before;
  for (const name of [...names, 'first']) await teardown(name);

  log('data: npm ci with a cold and a warm shared package cache');
  const app = join(scratch, 'notes-app');
  cpSync('examples/notes-app', app, { recursive: true, filter: (path) => !path.includes('node_modules') });
  await must('git', ['init', '-q', '-b', 'main'], app);
  await must('git', ['add', '-A'], app);
  await must('git', ['-c', 'user.name=b', '-c', 'user.email=b@berth.invalid', 'commit', '-qm', 'app'], app);
  const cacheEnv = { ...env, BERTH_HOME: join(scratch, 'cache-home') };
  await must('node', [BIN, 'host', 'init'], undefined, cacheEnv);
  const npmColdMs = await provisionMs(app, 'cold', cacheEnv);
  const npmWarmMs = await provisionMs(app, 'warm', cacheEnv);
  for (const name of ['cold', 'warm'])
    await must('node', [BIN, 'teardown', name, '--repo', app, '--force'], undefined, cacheEnv);

  log('data: ready from the warm pool against a cold provision');
  const { coldMs, fromPoolMs } = await poolBench(scratch, env);

  return {
    coldMs,
    fromPoolMs,
    migrations: MIGRATIONS,
    databaseBytes: Number(size?.bytes ?? 0),
    firstMs,
    fromTemplateMs: stats(later).median,
    withoutTemplateMs,
    bareCopyMs,
    tenAtOnceMs,
    tenAtOnceSeeds,
    resetMs,
    npmColdMs,
    npmWarmMs,
  };
}

async function poolBench(scratch: string, env: NodeJS.ProcessEnv) {
  const repo = join(scratch, 'pool-app');
  mkdirSync(repo, { recursive: true });
  writeFileSync(join(repo, 'berth.yaml'), 'pool: { size: 3 }\n');
  writeFileSync(join(scratch, 'cold.yaml'), 'pool: { size: 0 }\n');
  await must('git', ['init', '-q', '-b', 'main'], repo);
  await must('git', ['add', '-A'], repo);
  await must('git', ['-c', 'user.name=b', '-c', 'user.email=b@berth.invalid', 'commit', '-qm', 'app'], repo);
  // The measured provisions take from the pool; no refill runs beside them.
  const quiet = { ...env, BERTH_POOL_REFILL: '0' };
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < 3; i++)
    cold.push(await provisionMs(repo, `cold${i}`, quiet, ['--config', join(scratch, 'cold.yaml')]));
  await must('node', [BIN, 'pool', 'fill', '--repo', repo], undefined, quiet);
  for (let i = 0; i < 3; i++) warm.push(await provisionMs(repo, `warm${i}`, quiet));
  for (const name of [...cold.map((_, i) => `cold${i}`), ...warm.map((_, i) => `warm${i}`)])
    await must('node', [BIN, 'teardown', name, '--repo', repo, '--force'], undefined, quiet);
  await must('node', [BIN, 'pool', 'drain', '--repo', repo], undefined, quiet);
  return { coldMs: stats(cold).median, fromPoolMs: stats(warm).median };
}
