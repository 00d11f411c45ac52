import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/core/agent/provision.js';
import { repoId as repoIdOf, repoLabels } from '../../src/plan/names.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth, expectCleanStderr, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { commandLoop, gcLoop } from '../helpers/gc-loop.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { repoLeases, stackProblems, watchLeases } from '../helpers/stacks.js';

/**
 * The warm pool under attack (issue 22): drain and gc beside provisions taking members. Every
 * provision that reports ready has its whole stack, and no port or subnet is ever held by two parties.
 */
let repo: TestRepo;
let repoId = '';
const berthDir = () => join(repo.root, '.git', 'berth');
const state = () => readState(berthDir());

beforeAll(async () => {
  repo = await makeRepo({ files: { 'berth.yaml': 'pool: { size: 5 }\n' } });
  // The tests fill the pool themselves: no background refill outlives a test.
  process.env.BERTH_POOL_REFILL = '0';
  repoId = repoIdOf(realpathSync(join(repo.root, '.git')));
});
afterEach(async () => {
  // Each test leaves nothing of the repository: agents torn down, pool drained, leases released.
  for (const name of Object.keys(state().agents))
    expect((await berth(['teardown', name, '--repo', repo.root, '--force'])).exitCode).toBe(0);
  expect((await berth(['pool', 'drain', '--repo', repo.root])).exitCode).toBe(0);
  expect(await repoResources()).toEqual([]);
  expect(repoLeases(repoId)).toEqual([]);
}, 900_000);
afterAll(async () => {
  delete process.env.BERTH_POOL_REFILL;
  await berth(['pool', 'drain', '--repo', repo.root]);
  await repo.cleanup();
});

async function repoResources(): Promise<string[]> {
  const filters = { label: Object.entries(repoLabels(repoId)).map(([k, v]) => `${k}=${v}`) };
  const [containers, networks, volumes] = await Promise.all([
    docker().listContainers({ all: true, filters }),
    docker().listNetworks({ filters }),
    docker().listVolumes({ filters }),
  ]);
  return [
    ...containers.map((c) => c.Names[0] ?? c.Id),
    ...networks.map((n) => n.Name),
    ...(volumes.Volumes ?? []).map((v) => v.Name),
  ];
}

async function fill() {
  const result = await berth(['pool', 'fill', '--repo', repo.root, '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  return resultOf(result, 'pool fill');
}

/** Runs a command to its end from inside a provision's progress callback: the provision waits for it. */
function runNow(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The Docker objects of a pool member, by its agent label. */
function memberObjects(id: string, kind: 'ps' | 'network ls'): string[] {
  const args = [...kind.split(' '), '-q', '--filter', `label=dev.berth.agent=${id}`];
  if (kind === 'ps') args.splice(1, 0, '-a');
  return runNow('docker', args).split('\n').filter(Boolean);
}

describe('the warm pool under drain and gc', () => {
  it('gc and drain in the moment a provision takes a member remove nothing of it', async () => {
    await fill();
    let taken = '';
    const during: { gc?: string; drain?: string } = {};
    const view = await provision({
      name: 'taker',
      repo: repo.root,
      progress: (line) => {
        const match = /taking (pool-[0-9a-f]+) from the warm pool/.exec(line);
        if (!match?.[1]) return;
        taken = match[1];
        // The provision holds the member now: a gc and a drain run to their end before it goes on.
        during.gc = runNow(process.execPath, [BIN, 'gc', '--repo', repo.root, '--json']);
        during.drain = runNow(process.execPath, [BIN, 'pool', 'drain', '--repo', repo.root, '--json']);
      },
    });
    expect(taken).toMatch(/^pool-/);
    expect(view.state).toBe('running');
    const gc = JSON.parse(during.gc ?? '{}').result as { actions: Array<{ target: string }> };
    expect(gc.actions.filter((a) => a.target.includes(taken))).toEqual([]);
    const drained = JSON.parse(during.drain ?? '{}').result as { removed: string[] };
    // The four members nobody took are drained; the taken one is the agent's.
    expect(drained.removed).toHaveLength(4);
    expect(drained.removed).not.toContain(taken);
    const agent = state().agents.taker;
    expect(agent?.pooled).toBe(taken);
    expect(agent && (await stackProblems(agent))).toEqual([]);
  });

  it('a provision whose member is gone once taken makes its stack cold, and reports ready with all of it', async () => {
    await fill();
    let taken = '';
    const view = await provision({
      name: 'orphan',
      repo: repo.root,
      progress: (line) => {
        const match = /taking (pool-[0-9a-f]+) from the warm pool/.exec(line);
        if (!match?.[1]) return;
        taken = match[1];
        // Everything of the member goes behind the provision's back (a user, an engine restart).
        runNow('docker', ['rm', '-f', '-v', ...memberObjects(taken, 'ps')]);
        runNow('docker', ['network', 'rm', ...memberObjects(taken, 'network ls')]);
      },
    });
    expect(taken).toMatch(/^pool-/);
    expect(view.state).toBe('running');
    const agent = state().agents.orphan;
    expect(agent && (await stackProblems(agent))).toEqual([]);
  });

  it('drain and fill loops beside 20 provisions at once: every ready provision has its whole stack, no lease given twice, each member had one owner', async () => {
    const initial = (await fill()).made;
    const watch = watchLeases(berthDir(), repoId);
    const drains = commandLoop('pool drain', ['pool', 'drain'], [repo.root], (r) => r.removed);
    const fills = commandLoop('pool fill', ['pool', 'fill'], [repo.root], (r) => r.made);
    const names = Array.from({ length: 20 }, (_, i) => `d${i}`);
    const runs = await Promise.all(
      names.map((name) => berth(['provision', name, '--repo', repo.root, '--json'])),
    );
    const drained = await drains.stop();
    const filled = await fills.stop();
    const leases = await watch.stop();
    expect(drained.errors).toEqual([]);
    expect(filled.errors).toEqual([]);
    expect(drained.rounds).toBeGreaterThan(0);
    expect(leases.violations).toEqual([]);
    expect(leases.samples).toBeGreaterThan(0);
    for (const [i, run] of runs.entries()) {
      expect(run.exitCode, `${names[i]}: ${run.stderr}`).toBe(0);
      expect(expectCleanStderr(run.stderr)).toEqual([]);
    }
    const agents = names.map((name) => state().agents[name]);
    const problems = await Promise.all(agents.map((agent) => (agent ? stackProblems(agent) : ['missing'])));
    expect(problems.flat()).toEqual([]);
    // Every member went one way only: adopted by one agent, drained once, or still in the pool.
    const adopted = agents.map((agent) => agent?.pooled).filter(Boolean);
    const left = Object.keys(state().pool ?? {});
    for (const id of [...initial, ...filled.results]) {
      const owners = [...adopted, ...drained.results, ...left].filter((owner) => owner === id);
      expect(owners, id).toHaveLength(1);
    }
  }, 900_000);

  it('gc and fill loops beside 20 provisions at once: gc takes nothing of theirs, every ready provision has its whole stack', async () => {
    const initial = (await fill()).made;
    const watch = watchLeases(berthDir(), repoId);
    const gcs = gcLoop([repo.root]);
    const fills = commandLoop('pool fill', ['pool', 'fill'], [repo.root], (r) => r.made);
    const names = Array.from({ length: 20 }, (_, i) => `g${i}`);
    const runs = await Promise.all(
      names.map((name) => berth(['provision', name, '--repo', repo.root, '--json'])),
    );
    const reaped = await gcs.stop();
    const filled = await fills.stop();
    const leases = await watch.stop();
    expect(reaped.errors).toEqual([]);
    expect(filled.errors).toEqual([]);
    expect(reaped.rounds).toBeGreaterThan(0);
    expect(reaped.actions).toEqual([]);
    expect(leases.violations).toEqual([]);
    for (const [i, run] of runs.entries()) {
      expect(run.exitCode, `${names[i]}: ${run.stderr}`).toBe(0);
      expect(expectCleanStderr(run.stderr)).toEqual([]);
    }
    const agents = names.map((name) => state().agents[name]);
    const problems = await Promise.all(agents.map((agent) => (agent ? stackProblems(agent) : ['missing'])));
    expect(problems.flat()).toEqual([]);
    // Nothing but provisions takes members here: the five made before are adopted, each by one agent.
    const adopted = agents.map((agent) => agent?.pooled).filter(Boolean);
    expect(new Set(adopted).size).toBe(adopted.length);
    expect(adopted).toEqual(expect.arrayContaining(initial));
    const left = Object.keys(state().pool ?? {});
    for (const id of filled.results)
      expect(
        [...adopted, ...left].filter((o) => o === id),
        id,
      ).toHaveLength(1);
  }, 900_000);
});
