import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVISION_STEPS } from '../../src/core/agent/provision.js';
import { BIN, berth, listedAgents, ownGcActions, resultOf } from '../helpers/cli.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

async function provisionCrashingAfter(step: string, name: string) {
  return execa('node', [BIN, 'provision', name, '--repo', repo.root], {
    reject: false,
    env: { BERTH_TEST_CRASH_AFTER: step },
  });
}

describe('a provision killed with SIGKILL', () => {
  for (const step of PROVISION_STEPS.filter((s) => s !== 'record')) {
    it(`after "${step}": gc leaves nothing, and the same name provisions again`, async () => {
      const name = `crash-${step}`;
      const killed = await provisionCrashingAfter(step, name);
      expect(killed.signal).toBe('SIGKILL');
      // ls reads what the killed provision left (no log folder yet after "reserve"), and says so.
      const listed = await berth(['ls', '--repo', repo.root, '--json']);
      expect(listed.exitCode, listed.stderr).toBe(0);
      expect(listedAgents(listed).find((agent) => agent.name === name)).toMatchObject({
        state: 'failed',
        health: 'its provision was killed part-way: berth gc removes it',
      });

      const gc = await berth(['gc', '--repo', repo.root, '--json']);
      expect(gc.exitCode, gc.stderr).toBe(0);
      expect(ownGcActions(resultOf(gc, 'gc').actions, repo.root)).toEqual([
        expect.objectContaining({ kind: 'agent', target: name, reason: 'its provision was killed part-way' }),
      ]);
      expect(await leftovers(repo.root, name)).toEqual(NOTHING);
      expect((await repo.git('worktree', 'list')).split('\n')).toHaveLength(1);

      const again = await berth(['provision', name, '--repo', repo.root]);
      expect(again.exitCode, again.stderr).toBe(0);
      expect((await berth(['teardown', name, '--repo', repo.root])).exitCode).toBe(0);
    });
  }

  it('after "record": the agent is complete, and gc leaves it alone', async () => {
    const killed = await provisionCrashingAfter('record', 'crash-record');
    expect(killed.signal).toBe('SIGKILL');
    const gc = await berth(['gc', '--repo', repo.root, '--json']);
    expect(ownGcActions(resultOf(gc, 'gc').actions, repo.root)).toEqual([]);
    const [agent] = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(agent).toMatchObject({ name: 'crash-record', state: 'running', health: 'ok' });
  });
});
