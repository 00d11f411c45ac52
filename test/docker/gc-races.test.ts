import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentProcess } from '../../src/adapters/processes.js';
import { readState, updateState } from '../../src/state/store.js';
import { shInAgent } from '../helpers/agent.js';
import { BIN, berth, cli, ownGcActions, resultOf } from '../helpers/cli.js';
import { gcLoop } from '../helpers/gc-loop.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

const berthDir = () => join(repo.root, '.git', 'berth');

async function provision(name: string) {
  const result = await berth(['provision', name, '--repo', repo.root, '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  return resultOf(result, 'provision').agent;
}

describe('gc beside live agents never removes a healthy one', () => {
  it('a provision that just finished is never reaped by a gc loop running beside it', async () => {
    const loop = gcLoop([repo.root]);
    const names = Array.from({ length: 8 }, (_, i) => `fresh-${i + 1}`);
    for (const name of names) await provision(name);
    // Let the loop look at the last one a few more times.
    const seen = loop.rounds();
    await eventually(async () => expect(loop.rounds()).toBeGreaterThan(seen + 2), 60_000);
    const { actions, errors } = await loop.stop();
    expect(errors).toEqual([]);
    expect(actions.filter((a) => a.kind === 'agent')).toEqual([]);
    expect(Object.keys(readState(berthDir()).agents).sort()).toEqual([...names].sort());
    for (const name of names) expect((await berth(['teardown', name, '--repo', repo.root])).exitCode).toBe(0);
  });

  it('a merged agent in use is left alone; gc --merged takes it once no command runs, saving what it wrote', async () => {
    const agent = await provision('merged-busy');
    await shInAgent(
      repo.root,
      'merged-busy',
      'echo done > done.txt && git add done.txt && git commit -qm done',
    );
    await repo.git('merge', '--ff-only', 'berth/merged-busy');

    // The command runs until the test lets it finish: however slow gc is to start, it meets it running.
    const gate = join(agent.worktree, '.gate');
    const running = berth([
      'exec',
      'merged-busy',
      '--repo',
      repo.root,
      '--',
      'sh',
      '-c',
      'while [ ! -e .gate ]; do sleep 0.1; done; rm .gate; echo written-late > late.txt',
    ]);
    await eventually(async () =>
      expect(readState(berthDir()).agents['merged-busy']?.sessions).toHaveLength(1),
    );
    // A running exec is in use, even to --merged; a live lease is in use to plain gc.
    const busy = resultOf(await berth(['gc', '--repo', repo.root, '--json', '--merged']), 'gc');
    expect(ownGcActions(busy.actions, repo.root)).toEqual([]);
    writeFileSync(gate, '');
    const finished = await running;
    expect(finished.exitCode, finished.stderr).toBe(0);
    const idle = resultOf(await berth(['gc', '--repo', repo.root, '--json']), 'gc');
    expect(ownGcActions(idle.actions, repo.root)).toEqual([]);

    const reaped = resultOf(await berth(['gc', '--repo', repo.root, '--json', '--merged']), 'gc');
    expect(ownGcActions(reaped.actions, repo.root)).toEqual([
      expect.objectContaining({
        kind: 'agent',
        target: 'merged-busy',
        reason: 'its branch berth/merged-busy is merged into main',
      }),
    ]);
    expect(readFileSync(reaped.actions[0]?.savedPatch ?? '', 'utf8')).toContain('+written-late');
    expect(existsSync(agent.worktree)).toBe(false);
  });

  it('an agent being removed by a live berth process is refused by exec, heartbeat, provision and teardown; gc finishes it once that process is gone', async () => {
    await provision('claimed');
    const remover = spawn('sleep', ['60']);
    const pid = remover.pid as number;
    await eventually(async () => expect(existsSync(`/proc/${pid}/stat`)).toBe(true));
    const startTime = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19] ?? '';
    await updateState(berthDir(), (state) => {
      const agent = state.agents.claimed;
      if (!agent) throw new Error('no agent');
      agent.status = 'removing';
      agent.removal = { by: { pid, startTime }, reason: 'a test holds it', since: new Date().toISOString() };
    });
    expect(currentProcess().pid).not.toBe(pid);
    for (const args of [
      ['exec', 'claimed', '--repo', repo.root, '--', 'true'],
      ['heartbeat', 'claimed', '--repo', repo.root],
      ['provision', 'claimed', '--repo', repo.root],
      ['teardown', 'claimed', '--repo', repo.root],
    ]) {
      const result = await berth(args);
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(
        /agent "?claimed"? is being removed \(a test holds it\) \(hint: /,
      );
    }
    remover.kill('SIGKILL');
    await eventually(async () => expect(existsSync(`/proc/${pid}/stat`)).toBe(false));
    const gc = resultOf(await berth(['gc', '--repo', repo.root, '--json']), 'gc');
    expect(ownGcActions(gc.actions, repo.root)).toEqual([
      expect.objectContaining({
        kind: 'agent',
        target: 'claimed',
        reason: 'its removal (a test holds it) was interrupted',
      }),
    ]);
    expect(await leftovers(repo.root, 'claimed')).toEqual(NOTHING);
  });

  it('teardown and gc racing on one agent: exactly one removes it, the other says so, nothing is lost', async () => {
    const agent = await provision('raced');
    writeFileSync(join(agent.worktree, 'wip.txt'), 'work in progress\n');
    // Its lease has run out: gc wants it too. The teardown is forced: its work must become a patch.
    await updateState(berthDir(), (state) => {
      const record = state.agents.raced;
      if (record) record.expiry.expiresAt = new Date(0).toISOString();
    });
    const [down, gc] = await Promise.all([
      execa(process.execPath, [BIN, 'teardown', 'raced', '--repo', repo.root, '--force', '--json'], {
        reject: false,
      }),
      execa(process.execPath, [BIN, 'gc', '--repo', repo.root, '--json'], { reject: false }),
    ]);
    expect(String(down.stderr) + String(gc.stderr)).not.toMatch(/ENOENT|cannot delete branch|internal/);
    const tornDown = down.exitCode === 0 && resultOf(cli(down), 'teardown').removed;
    const reaped = gc.exitCode === 0 && resultOf(cli(gc), 'gc').actions.some((a) => a.target === 'raced');
    expect([tornDown, reaped].filter(Boolean)).toHaveLength(1);
    if (!tornDown) expect(down.exitCode === 0 || /being removed/.test(String(down.stderr))).toBe(true);
    const patches = (await execa('sh', ['-c', `cat ${berthDir()}/saved/raced-*.patch`])).stdout;
    expect(patches).toContain('+work in progress');
    expect(await leftovers(repo.root, 'raced')).toEqual(NOTHING);
  });
});
