/**
 * `npm run bench`: berth against the alternatives, in one run on this machine, with warm images.
 * Writes bench/results/<date>.md and .json. Options: --runs N (default 5), --many 1,5,10,20,50,
 * --idle-seconds 30, --repo PATH (a long-history repository for the disk figure; default: built here),
 * --only fleet|data|egress|services (that section alone, added to the latest result), --only core (ready,
 * teardown, many at once, idle cost and disk, a result of their own), --egress-stacks N (idle
 * stacks of each kind in the egress and services sections; default 10, each behind a proxy takes two
 * networks).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type Docker from 'dockerode';
import { connect, engineEndpoint } from '../src/adapters/docker.js';
import { configSchema } from '../src/config/schema.js';
import { resolveStackImages } from '../src/core/agent/stack-facts.js';
import { offlineImage } from '../src/plan/images.js';
import { repoId } from '../src/plan/names.js';
import { dataBench } from './data.js';
import { egressBench } from './egress.js';
import { fleetBench } from './fleet.js';
import { idleCost } from './idle.js';
import { berth, machine, must, type Stats, stats } from './lib.js';
import { renderReport } from './report.js';
import {
  BENCH_LABEL,
  berthOnce,
  diskPerAgent,
  floorOnce,
  handmadeOnce,
  type Images,
  longHistoryRepo,
  manyAtOnce,
  smallRepo,
} from './scenarios.js';
import { servicesBench } from './services.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    many: { type: 'string', default: '1,5,10,20,50' },
    'idle-seconds': { type: 'string', default: '30' },
    'egress-stacks': { type: 'string', default: '10' },
    repo: { type: 'string' },
    only: { type: 'string' },
  },
});
const runs = Number(flags.runs);
const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

async function cleanBench(docker: Docker) {
  for (const c of await docker.listContainers({ all: true, filters: { label: [BENCH_LABEL] } })) {
    await docker.getContainer(c.Id).remove({ force: true, v: true });
  }
  for (const n of await docker.listNetworks({ filters: { label: [BENCH_LABEL] } }))
    await docker.getNetwork(n.Id).remove();
  // Database templates made from the bench's agents carry its label too.
  for (const image of await docker.listImages({
    filters: { label: [BENCH_LABEL, 'dev.berth.managed=true'] },
  }))
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
}

async function benchImages(docker: Docker): Promise<Images> {
  const { images: resolved, postgresPreinitialised } = await resolveStackImages(
    docker,
    configSchema.parse({}),
    '/dev/null',
  );
  const official = await docker
    .getImage('postgres:17')
    .inspect()
    .then(
      () => 'postgres:17',
      () => offlineImage('postgres'),
    );
  return {
    postgres: resolved.postgres,
    postgresPreinitialised,
    postgresInitdb: official,
    redis: resolved.redis,
    agent: resolved.agent,
  };
}

const resultsDir = new URL('../../bench/results/', import.meta.url).pathname;

function writeResult(result: Parameters<typeof renderReport>[0]) {
  mkdirSync(resultsDir, { recursive: true });
  const stamp = result.date.slice(0, 10);
  writeFileSync(join(resultsDir, `${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(resultsDir, `${stamp}.md`), renderReport(result));
  process.stdout.write(renderReport(result));
}

const egressOptions = () => ({
  runs,
  stacks: Number(flags['egress-stacks']),
  idleSeconds: Number(flags['idle-seconds']),
});

/** --only fleet|data|egress|services: that section alone, added to the latest full result. */
async function sectionOnly(section: 'fleet' | 'data' | 'egress' | 'services') {
  const latest = readdirSync(resultsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .at(-1);
  if (!latest) throw new Error('no earlier result to add the fleet row to: run the whole bench');
  const result = JSON.parse(readFileSync(join(resultsDir, latest), 'utf8'));
  const scratch = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  try {
    if (section === 'fleet') result.fleet = await fleetBench(scratch, log);
    else if (section === 'egress') result.egress = await egressBench(scratch, egressOptions(), log);
    else if (section === 'services') result.services = await servicesBench(scratch, egressOptions(), log);
    else result.data = await dataBench(scratch, log);
  } finally {
    await cleanBench(connect(engineEndpoint(process.env)));
    rmSync(scratch, { recursive: true, force: true });
  }
  writeResult(result);
}

async function main() {
  await berth(['host', 'init']);
  if (flags.only === 'fleet' || flags.only === 'data' || flags.only === 'egress' || flags.only === 'services')
    return sectionOnly(flags.only);
  const docker = connect(engineEndpoint(process.env));
  await cleanBench(docker);
  const scratch = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const repo = await smallRepo(scratch);
  const images = await benchImages(docker);
  log(`images: ${JSON.stringify(images)}`);

  const ready: Record<string, number[]> = { berth: [], handmade: [], clone: [], floor: [] };
  const teardown: Record<string, number[]> = { berth: [], handmade: [] };
  // One warm-up of each, not counted: the first run pays for cold caches.
  await berthOnce(repo, 'warm');
  await handmadeOnce(repo, 'warm', images, false);
  await floorOnce(repo, 'warm', images);
  for (let i = 0; i < runs; i++) {
    log(`ready and teardown, run ${i + 1} of ${runs}`);
    const b = await berthOnce(repo, `r${i}`);
    ready.berth?.push(b.ready);
    teardown.berth?.push(b.teardown);
    const h = await handmadeOnce(repo, `h${i}`, images, false);
    ready.handmade?.push(h.ready);
    teardown.handmade?.push(h.teardown);
    ready.clone?.push((await handmadeOnce(repo, `c${i}`, images, true)).ready);
    ready.floor?.push((await floorOnce(repo, `f${i}`, images)).ready);
  }

  const many = [];
  for (const count of (flags.many ?? '').split(',').map(Number).filter(Boolean)) {
    log(`${count} agents at once`);
    many.push(await manyAtOnce(repo, count));
  }

  log('idle cost of 10 stacks');
  await berth(['up', '-n', '10', '--prefix', 'idle', '--parallel', '10', '--repo', repo]);
  const idle = await idleCost(repoId(join(repo, '.git')), Number(flags['idle-seconds']));
  for (let i = 1; i <= 10; i++) await berth(['teardown', `idle-${i}`, '--repo', repo, '--force']);

  log('disk per agent on a long history');
  const longRepo = flags.repo ?? (await longHistoryRepo(scratch, 5000, 2000));
  const disk = await diskPerAgent(longRepo);

  const core = flags.only === 'core';
  const fleet = core ? undefined : await fleetBench(scratch, log);
  const data = core ? undefined : await dataBench(scratch, log);
  const egress = core ? undefined : await egressBench(scratch, egressOptions(), log);
  const services = core ? undefined : await servicesBench(scratch, egressOptions(), log);

  await cleanBench(docker);
  rmSync(scratch, { recursive: true, force: true });
  const summarize = (record: Record<string, number[]>) =>
    Object.fromEntries(Object.entries(record).map(([key, values]) => [key, stats(values)])) as Record<
      string,
      Stats
    >;
  const result = {
    date: new Date().toISOString(),
    machine: await machine(),
    images,
    runs,
    ready: summarize(ready),
    teardown: summarize(teardown),
    many,
    idle,
    disk,
    fleet,
    data,
    egress,
    services,
  };
  writeResult(result);
}

main().catch(async (error) => {
  process.stderr.write(`bench: failed: ${error instanceof Error ? error.stack : error}\n`);
  await must('true', []);
  process.exitCode = 1;
});
