import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readState } from '../../src/state/store.js';
import { berth } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

// A bridge a dead engine left behind (its network gone from the engine's store, its interface and
// route still in the kernel) looks like this: a route to a subnet the engine does not know.
const BRIDGE = 'berthtest0';

let repo: TestRepo;
let canMakeBridges = false;
beforeAll(async () => {
  repo = await makeRepo({
    files: { 'berth.yaml': 'network: { subnetPool: 10.209.0.0/26 }\nhealthTimeout: 20\n' },
  });
  await execa('ip', ['link', 'delete', BRIDGE], { reject: false });
  canMakeBridges =
    (await execa('ip', ['link', 'add', BRIDGE, 'type', 'bridge'], { reject: false })).exitCode === 0;
  if (canMakeBridges) {
    await execa('ip', ['addr', 'add', '10.209.0.1/28', 'dev', BRIDGE]);
    await execa('ip', ['link', 'set', BRIDGE, 'up']);
  }
});
afterAll(async () => {
  await execa('ip', ['link', 'delete', BRIDGE], { reject: false });
  await repo?.cleanup();
});

it('never leases a subnet the host already routes elsewhere, so the stack is reachable from the host', async (context) => {
  if (!canMakeBridges) context.skip();
  const result = await berth(['provision', 'routed', '--repo', repo.root]);
  expect(result.exitCode, result.stderr).toBe(0);
  const agent = readState(join(repo.root, '.git', 'berth')).agents.routed;
  expect(agent?.subnet).not.toBe('10.209.0.0/28');
  expect(agent?.subnet).toMatch(/^10\.209\.0\.\d+\/28$/);
});
