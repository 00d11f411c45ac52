import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { berth, listedAgents, resultOf } from '../helpers/cli.js';
import { mayRestartEngine, stopDockerd } from '../helpers/engine.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

async function ls() {
  const listed = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
  return Object.fromEntries(listed.map((a: { name: string; state: string }) => [a.name, a.state]));
}

it.runIf(mayRestartEngine)(
  'after an engine restart, ls tells the truth, the restart policy decides what comes back, and teardown works',
  async () => {
    const noRestart = join(repo.root, '..', 'no-restart.yaml');
    writeFileSync(noRestart, 'restart: "no"\n');
    expect((await berth(['provision', 'comes-back', '--repo', repo.root])).exitCode).toBe(0);
    expect(
      (await berth(['provision', 'stays-down', '--repo', repo.root, '--config', noRestart])).exitCode,
    ).toBe(0);

    expect(await stopDockerd()).toBe(true);
    const init = await berth(['host', 'init', '--json']);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(resultOf(init, 'host init').engine.outcome).toBe('started');

    await eventually(
      async () => expect(await ls()).toEqual({ 'comes-back': 'running', 'stays-down': 'stopped' }),
      60_000,
    );
    const [back] = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(back?.health).toBe('ok');
    const down = (await berth(['ls', '--repo', repo.root])).stdout;
    expect(down).toMatch(/^stays-down .* stopped +agent exited, postgres exited, redis exited/m);

    for (const name of ['comes-back', 'stays-down']) {
      const result = await berth(['teardown', name, '--repo', repo.root]);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(await leftovers(repo.root, name)).toEqual(NOTHING);
    }
  },
);
