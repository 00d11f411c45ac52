import type { DataBench } from './data.js';
import type { EgressBench } from './egress.js';
import type { FleetBench } from './fleet.js';
import type { Stats } from './lib.js';
import type { ServicesBench } from './services.js';

interface Result {
  date: string;
  machine: Record<string, unknown>;
  images: object;
  runs: number;
  ready: Record<string, Stats>;
  teardown: Record<string, Stats>;
  many: Array<{
    count: number;
    wallMs: number;
    p50Ms: number;
    p95Ms: number;
    failures: number;
    peakMemoryMiB: number;
    firstFailure?: string;
  }>;
  idle: { stacks: number; seconds: number; cpuPercentOfOneCore: number; memoryMiBPerStack: number };
  disk: { commits: number; files: number; checkedOutKiB: number; worktreeKiB: number; cloneKiB: number };
  fleet?: FleetBench;
  data?: DataBench;
  egress?: EgressBench;
  services?: ServicesBench;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const range = (stat: Stats) => `${s(stat.median)} (${s(stat.min)}–${s(stat.max)})`;
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');

export function targets(result: Result) {
  const { berth, handmade, floor } = result.ready as Record<string, Stats>;
  const ratio = (a?: Stats, b?: Stats) => (a && b ? a.median / b.median : Number.NaN);
  const at = (count: number) => result.many.find((m) => m.count === count);
  return [
    [
      'one agent ready in at most 0.4x the hand-made way',
      `${ratio(berth, handmade).toFixed(2)}x`,
      ratio(berth, handmade) <= 0.4,
    ],
    [
      'one agent ready in at most 1.5x the physical floor',
      `${ratio(berth, floor).toFixed(2)}x`,
      ratio(berth, floor) <= 1.5,
    ],
    [
      'teardown at most 1 s per agent',
      s(result.teardown.berth?.median ?? 0),
      (result.teardown.berth?.median ?? Infinity) <= 1000,
    ],
    [
      '20 agents at once ready within 25 s, 0 failures',
      at(20) ? `${s(at(20)?.wallMs ?? 0)}, ${at(20)?.failures} failed` : 'not run',
      Boolean(at(20) && (at(20)?.wallMs ?? 0) <= 25_000 && at(20)?.failures === 0),
    ],
    [
      '50 agents at once, 0 failures',
      at(50) ? `${at(50)?.failures} failed` : 'not run',
      at(50)?.failures === 0,
    ],
    [
      '10 idle stacks under 5% of one core',
      `${result.idle.cpuPercentOfOneCore.toFixed(2)}%`,
      result.idle.cpuPercentOfOneCore < 5,
    ],
    [
      'under 60 MB of memory per idle stack',
      `${result.idle.memoryMiBPerStack.toFixed(1)} MiB`,
      result.idle.memoryMiBPerStack < 60,
    ],
    [
      'disk per agent equal to the checked-out files',
      `${mib(result.disk.worktreeKiB)} vs ${mib(result.disk.checkedOutKiB)} checked out`,
      result.disk.worktreeKiB <= result.disk.checkedOutKiB * 1.05 + 64,
    ],
  ] as const;
}

export function renderReport(result: Result): string {
  const { ready, teardown } = result;
  const berth = ready.berth as Stats;
  const ratio = (other?: Stats) => (other ? `${(berth.median / other.median).toFixed(2)}x` : '');
  const lines = [
    `# berth benchmark, ${result.date.slice(0, 10)}`,
    '',
    `Machine: ${Object.entries(result.machine)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Images: ${Object.entries(result.images as Record<string, string>)
      .map(([k, v]) => `${k} \`${v}\``)
      .join(', ')}.`,
    `Each figure: the median and (min–max) of ${result.runs} runs after one warm-up, warm images.`,
    '',
    '## Targets',
    '',
    '| target | measured | |',
    '| --- | --- | --- |',
    ...targets(result).map(([name, measured, ok]) => `| ${name} | ${measured} | ${verdict(ok)} |`),
    '',
    '## Ready: from command start until Postgres and Redis accept connections (and the env file exists)',
    '',
    '| way | ready | berth / it |',
    '| --- | --- | --- |',
    `| berth provision | ${range(berth)} | |`,
    `| (a) hand-made: git worktree add + compose up (initdb at start, healthchecks) | ${range(ready.handmade as Stats)} | ${ratio(ready.handmade)} |`,
    `| (b) the same with a full git clone | ${range(ready.clone as Stats)} | ${ratio(ready.clone)} |`,
    `| (c) physical floor: worktree add + 3 bare docker run in parallel | ${range(ready.floor as Stats)} | ${ratio(ready.floor)} |`,
    '',
    '## Teardown',
    '',
    '| way | time |',
    '| --- | --- |',
    `| berth teardown | ${range(teardown.berth as Stats)} |`,
    `| compose down -v + git worktree remove | ${range(teardown.handmade as Stats)} |`,
    '',
    '## Many at once (`berth up -n N --parallel N`)',
    '',
    '| N | wall time until all ready | per-agent p50 | p95 | failures | peak host memory |',
    '| --- | --- | --- | --- | --- | --- |',
    ...result.many.map(
      (m) =>
        `| ${m.count} | ${s(m.wallMs)} | ${s(m.p50Ms)} | ${s(m.p95Ms)} | ${m.failures}${m.firstFailure ? ` (${m.firstFailure})` : ''} | ${m.peakMemoryMiB.toFixed(0)} MiB |`,
    ),
    '',
    `## Idle cost: ${result.idle.stacks} stacks over ${result.idle.seconds} s`,
    '',
    `CPU ${result.idle.cpuPercentOfOneCore.toFixed(2)}% of one core in all; memory ${result.idle.memoryMiBPerStack.toFixed(1)} MiB per stack (usage less reclaimable page cache, as \`docker stats\`).`,
    '',
    `## Disk per agent: a repository of ${result.disk.commits} commits and ${result.disk.files} files`,
    '',
    '| | disk |',
    '| --- | --- |',
    `| checked-out files | ${mib(result.disk.checkedOutKiB)} |`,
    `| berth's worktree | ${mib(result.disk.worktreeKiB)} |`,
    `| full clone | ${mib(result.disk.cloneKiB)} |`,
    '',
    ...fleetLines(result.fleet, Number(result.machine.cores)),
    ...dataLines(result.data),
    ...egressLines(result.egress),
    ...servicesLines(result.services),
  ];
  return `${lines.join('\n')}\n`;
}

function fleetLines(fleet: FleetBench | undefined, cores: number): string[] {
  if (!fleet) return [];
  const overhead = fleet.singleMs - fleet.runAloneMs;
  return [
    `## Fleet: ${fleet.workers} workers x ${fleet.slots} slots on this one machine, ${fleet.tasks} tasks that commit one file`,
    '',
    '| | time |',
    '| --- | --- |',
    `| all ${fleet.tasks} tasks, submit to last completed | ${s(fleet.wallMs)} |`,
    `| one task, submitted to an idle fleet until \`fleet wait\` returns, median of 3 | ${s(fleet.singleMs)} |`,
    `| the same task alone, \`berth run --on-exit teardown\`, median of 3 | ${s(fleet.runAloneMs)} |`,
    `| per-task overhead of the fleet (queue, fetch into the cache, publish) | ${s(overhead)} |`,
    `| one task on a host during the 30 (${fleet.workers * fleet.slots} at once on ${cores} cores), median | ${s(fleet.taskMedianMs)} |`,
    `| a worker SIGKILLed mid-task: until its tasks ran on another host (lock ${fleet.lockSeconds} s, stalled check ${fleet.stalledSeconds} s) | ${fleet.deathToRerunMs.map(s).join(', ')} |`,
    '',
  ];
}

function dataLines(data: DataBench | undefined): string[] {
  if (!data) return [];
  const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
  const met = (ok: boolean) => (ok ? 'met' : 'not met');
  return [
    `## Databases: an app with ${data.migrations} migrations and a seeded database of ${gb(data.databaseBytes)}`,
    '',
    '| | time | target |',
    '| --- | --- | --- |',
    `| the first agent on a base (migrate, seed, template saved) | ${s(data.firstMs)} | |`,
    `| one agent with templates off (every migration and the seed) | ${s(data.withoutTemplateMs)} | |`,
    `| a later agent, from the template, median of 3 | ${s(data.fromTemplateMs)} | ≤ 2 s: ${met(data.fromTemplateMs <= 2000)} |`,
    `| bare \`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY\` of the same data | ${s(data.bareCopyMs)} | from template ≤ 1.5x: ${met(data.fromTemplateMs <= 1.5 * data.bareCopyMs)} |`,
    `| 10 agents at once on a new base | ${s(data.tenAtOnceMs)}, ${data.tenAtOnceSeeds} seed(s) ran | one template build: ${met(data.tenAtOnceSeeds === 1)} |`,
    `| \`berth db reset\` of the seeded database | ${s(data.resetMs)} | ≤ 2 s: ${met(data.resetMs <= 2000)} |`,
    `| the example app (setup: npm ci), cold shared package cache | ${s(data.npmColdMs)} | |`,
    `| the same, warm cache | ${s(data.npmWarmMs)} | faster: ${met(data.npmWarmMs < data.npmColdMs)} |`,
    `| \`berth provision\` with no pool (the whole CLI process), median of 3 | ${s(data.coldMs)} | |`,
    `| the same, taking a ready environment from the warm pool, median of 3 | ${s(data.fromPoolMs)} | ≤ 0.5x cold and < 0.5 s: ${met(data.fromPoolMs <= 0.5 * data.coldMs && data.fromPoolMs < 500)} |`,
    '',
  ];
}

function egressLines(egress: EgressBench | undefined): string[] {
  if (!egress) return [];
  const idle = (kind: 'off' | 'on') =>
    `${egress.idle[kind].cpuPercentOfOneCore.toFixed(2)}% of one core in all, ${egress.idle[kind].memoryMiBPerStack.toFixed(1)} MiB per stack`;
  return [
    `## Egress allowlist: one agent with \`network.egress\` (its proxy) next to one without, ${egress.runs} runs each`,
    '',
    '| | allowlist off | allowlist on (a proxy per agent) |',
    '| --- | --- | --- |',
    `| ready (Postgres and Redis answer, through the proxy when on) | ${range(egress.ready.off)} | ${range(egress.ready.on)} |`,
    `| teardown | ${range(egress.teardown.off)} | ${range(egress.teardown.on)} |`,
    `| ${egress.idle.on.stacks} idle stacks over ${egress.idle.on.seconds} s | ${idle('off')} | ${idle('on')} |`,
    '',
  ];
}

function servicesLines(services: ServicesBench | undefined): string[] {
  if (!services) return [];
  const idle = (kind: 'two' | 'four') =>
    `${services.idle[kind].cpuPercentOfOneCore.toFixed(2)}% of one core in all, ${services.idle[kind].memoryMiBPerStack.toFixed(1)} MiB per stack`;
  return [
    `## Services: a stack of four (Postgres, Redis, MariaDB, memcached) next to the default two, ${services.runs} runs each`,
    '',
    '| | Postgres and Redis | and MariaDB and memcached (`services:`) |',
    '| --- | --- | --- |',
    `| ready (every service answers) | ${range(services.ready.two)} | ${range(services.ready.four)} |`,
    `| teardown | ${range(services.teardown.two)} | ${range(services.teardown.four)} |`,
    `| ${services.idle.four.stacks} idle stacks over ${services.idle.four.seconds} s | ${idle('two')} | ${idle('four')} |`,
    '',
  ];
}
