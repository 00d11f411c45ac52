import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readLeases } from '../../src/state/leases.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth, resultOf } from '../helpers/cli.js';
import { killDockerd, mayRestartEngine } from '../helpers/engine.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo({ files: { 'berth.yaml': 'hooks:\n  setup:\n    - sleep 300\n' } });
});
afterAll(() => repo?.cleanup());

it.runIf(mayRestartEngine)(
  'the engine dying mid-provision: berth says so, keeps the record and its leases, and gc finishes once the engine is back',
  async () => {
    const child = execa(process.execPath, [BIN, 'provision', 'orphaned', '--repo', repo.root], {
      reject: false,
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('orphaned: running setup hooks')) void killDockerd();
    });
    const result = await child;
    // Whatever happens below, the engine comes back for the tests after this one.
    await berth(['host', 'init']);
    expect(result.exitCode, String(result.stderr)).toBe(3);
    expect(String(result.stderr)).toMatch(
      /provisioning orphaned failed at step "setup": the Docker engine went away .*\(hint: start it again \(berth host init\), then run berth gc/,
    );
    // Its containers may come back with the engine (restart policy): their record and leases must stay.
    const record = readState(join(repo.root, '.git', 'berth')).agents.orphaned;
    expect(record).toMatchObject({ status: 'failed', failure: 'the Docker engine went away' });
    const ours = (lease: { agent: string; berthDir: string }) =>
      lease.agent === 'orphaned' && lease.berthDir === join(repo.root, '.git', 'berth');
    const leased = Object.values(readLeases(process.env).ports).filter(ours);
    expect(leased).toHaveLength(2);

    const gc = await berth(['gc', '--repo', repo.root, '--json']);
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(resultOf(gc, 'gc').actions).toEqual([
      expect.objectContaining({
        kind: 'agent',
        target: 'orphaned',
        reason: expect.stringMatching(/its provision failed/),
      }),
    ]);
    expect(await leftovers(repo.root, 'orphaned')).toEqual(NOTHING);
    expect(Object.values(readLeases(process.env).ports).filter(ours)).toEqual([]);
  },
);
