import { join } from 'node:path';
import { repoId } from '../src/plan/names.js';
import { idleCost } from './idle.js';
import { type Stats, stats, timed } from './lib.js';
import { berthIn, commitBenchConfig, smallRepo } from './scenarios.js';

export interface EgressBench {
  runs: number;
  /** `berth provision` until Postgres and Redis answer, with the allowlist off and on. */
  ready: { off: Stats; on: Stats };
  teardown: { off: Stats; on: Stats };
  idle: {
    off: { stacks: number; seconds: number; cpuPercentOfOneCore: number; memoryMiBPerStack: number };
    on: { stacks: number; seconds: number; cpuPercentOfOneCore: number; memoryMiBPerStack: number };
  };
}

/** Nothing is reached: the list only has to exist for the proxy to be made. */
const ALLOWLIST = 'network:\n  egress:\n    allow: [registry.example.com, "git.example.net:22"]\n';

/**
 * The allowlist's cost, next to none: ready and teardown of one agent (alternating, after one warm-up
 * of each), and the idle CPU and memory of `stacks` stacks of each kind.
 */
export async function egressBench(
  scratch: string,
  options: { runs: number; stacks: number; idleSeconds: number },
  log: (message: string) => void,
): Promise<EgressBench> {
  const off = await smallRepo(join(scratch, 'egress-off'));
  const on = await smallRepo(join(scratch, 'egress-on'));
  await commitBenchConfig(on, ALLOWLIST);
  const ready = { off: [] as number[], on: [] as number[] };
  const teardown = { off: [] as number[], on: [] as number[] };
  const once = async (kind: 'off' | 'on', name: string, count: boolean) => {
    const repo = kind === 'on' ? on : off;
    const up = await timed(() => berthIn(repo, ['provision', name, '--json']));
    const down = await timed(() => berthIn(repo, ['teardown', name]));
    if (!count) return;
    ready[kind].push(up.ms);
    teardown[kind].push(down.ms);
  };
  await once('off', 'warm', false);
  await once('on', 'warm', false);
  for (let i = 0; i < options.runs; i++) {
    log(`egress: ready and teardown, run ${i + 1} of ${options.runs}`);
    await once('off', `r${i}`, true);
    await once('on', `r${i}`, true);
  }
  const idleOf = async (repo: string, kind: string) => {
    log(`egress: idle cost of ${options.stacks} stacks, allowlist ${kind}`);
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
  const idle = { off: await idleOf(off, 'off'), on: await idleOf(on, 'on') };
  return {
    runs: options.runs,
    ready: { off: stats(ready.off), on: stats(ready.on) },
    teardown: { off: stats(teardown.off), on: stats(teardown.on) },
    idle,
  };
}
