import { join } from 'node:path';
import { repoId } from '../src/plan/names.js';
import { idleCost } from './idle.js';
import { type Stats, stats, timed } from './lib.js';
import { berthIn, commitBenchConfig, smallRepo } from './scenarios.js';

export interface ServicesBench {
  runs: number;
  /** `berth provision` until every service answers: Postgres and Redis, then those two and two more. */
  ready: { two: Stats; four: Stats };
  teardown: { two: Stats; four: Stats };
  idle: {
    two: { stacks: number; seconds: number; cpuPercentOfOneCore: number; memoryMiBPerStack: number };
    four: { stacks: number; seconds: number; cpuPercentOfOneCore: number; memoryMiBPerStack: number };
  };
}

/** Four services: Postgres and Redis (berth's presets), MariaDB and memcached (services:). */
const FOUR = `services:
  mariadb:
    image: mariadb:11
    env: { MARIADB_DATABASE: app, MARIADB_USER: app, MARIADB_PASSWORD: "\${random}" }
    ports: [3306]
    volumes: [/var/lib/mysql]
    url: "mysql://app:\${env.MARIADB_PASSWORD}@\${host}:\${port}/app"
  memcached: { image: "memcached:1.6", command: ["-m", "64"], ports: [11211] }
`;

/**
 * A stack of four services next to the default two: ready and teardown of one agent (alternating, after
 * one warm-up of each, which also builds the MariaDB and memcached stand-ins where they are missing),
 * and the idle CPU and memory of `stacks` stacks of each.
 */
export async function servicesBench(
  scratch: string,
  options: { runs: number; stacks: number; idleSeconds: number },
  log: (message: string) => void,
): Promise<ServicesBench> {
  const two = await smallRepo(join(scratch, 'services-two'));
  const four = await smallRepo(join(scratch, 'services-four'));
  await commitBenchConfig(four, FOUR);
  const ready = { two: [] as number[], four: [] as number[] };
  const teardown = { two: [] as number[], four: [] as number[] };
  const once = async (kind: 'two' | 'four', name: string, count: boolean) => {
    const repo = kind === 'four' ? four : two;
    const up = await timed(() => berthIn(repo, ['provision', name, '--json']));
    const down = await timed(() => berthIn(repo, ['teardown', name]));
    if (!count) return;
    ready[kind].push(up.ms);
    teardown[kind].push(down.ms);
  };
  await once('two', 'warm', false);
  await once('four', 'warm', false);
  for (let i = 0; i < options.runs; i++) {
    log(`services: ready and teardown, run ${i + 1} of ${options.runs}`);
    await once('two', `r${i}`, true);
    await once('four', `r${i}`, true);
  }
  const idleOf = async (repo: string, kind: string) => {
    log(`services: idle cost of ${options.stacks} stacks of ${kind} services`);
    await berthIn(repo, [
      'up',
      '-n',
      String(options.stacks),
      '--prefix',
      'idle',
      '--parallel',
      String(options.stacks),
    ]);
    try {
      return await idleCost(repoId(join(repo, '.git')), options.idleSeconds);
    } finally {
      for (let i = 1; i <= options.stacks; i++) await berthIn(repo, ['teardown', `idle-${i}`, '--force']);
    }
  };
  const idle = { two: await idleOf(two, 'two'), four: await idleOf(four, 'four') };
  return {
    runs: options.runs,
    ready: { two: stats(ready.two), four: stats(ready.four) },
    teardown: { two: stats(teardown.two), four: stats(teardown.four) },
    idle,
  };
}
