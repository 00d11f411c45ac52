import { describe, expect, it } from 'vitest';
import { type ContainerRun, STEADY_BOUND_MS, STEADY_MS, steadyVerdict } from '../../src/plan/steady.js';

const now = 1_000_000;
const run = (service: string, over: Partial<ContainerRun> = {}): ContainerRun => ({
  service,
  running: true,
  restarting: false,
  state: 'running',
  restarts: 0,
  startedAt: now - 10 * STEADY_MS,
  ...over,
});
const restarting = (service: string, restarts = 1) =>
  run(service, { running: false, restarting: true, state: 'keeps exiting (restarting)', restarts });

describe('steadyVerdict: when a started stack counts as running', () => {
  it('is steady when every container has run the window', () => {
    expect(steadyVerdict([run('agent'), run('postgres')], ['agent'], now, 0)).toEqual({ kind: 'steady' });
  });

  it('waits for the youngest container to have run the window', () => {
    const runs = [run('agent', { startedAt: now - 100 }), run('postgres', { startedAt: now - 300 })];
    expect(steadyVerdict(runs, ['agent'], now, 0)).toEqual({ kind: 'wait', ms: STEADY_MS - 100 });
  });

  it('waits the whole window for a start the engine dates after now (its clock ahead)', () => {
    expect(steadyVerdict([run('agent', { startedAt: now + 5000 })], [], now, 0)).toEqual({
      kind: 'wait',
      ms: STEADY_MS,
    });
  });

  it('fails on a required container that is not there', () => {
    expect(steadyVerdict([run('postgres')], ['agent'], now, 0)).toEqual({
      kind: 'failed',
      service: 'agent',
      state: 'is missing',
    });
  });

  it('fails at once on a container that exited (no restart policy brings it back), in words', () => {
    const runs = [run('agent'), run('worker', { running: false, state: 'exited with code 3' })];
    expect(steadyVerdict(runs, ['agent'], now, 0)).toEqual({
      kind: 'failed',
      service: 'worker',
      state: 'exited with code 3',
    });
    expect(steadyVerdict([run('worker', { running: false, state: 'created' })], [], now, 0)).toMatchObject({
      state: 'is created',
    });
  });

  it('looks again soon at one its restart policy is bringing back, and at one restarted just now', () => {
    expect(steadyVerdict([run('agent'), restarting('worker')], ['agent'], now, 0)).toEqual({
      kind: 'wait',
      ms: 100,
    });
    const justNow = run('worker', { restarts: 1, startedAt: now - 20 });
    expect(steadyVerdict([justNow], [], now, 300)).toEqual({ kind: 'wait', ms: STEADY_MS - 20 });
  });

  it('keeps one restarted once and running since (a worker that exits while what it needs starts)', () => {
    expect(steadyVerdict([run('worker', { restarts: 1 })], [], now, 900)).toEqual({ kind: 'steady' });
    expect(steadyVerdict([run('postgres', { restarts: 2 })], [], now, 0)).toEqual({ kind: 'steady' });
  });

  it('fails on one still restarting, or restarted again, once the bound is reached', () => {
    expect(steadyVerdict([restarting('agent', 4)], ['agent'], now, STEADY_BOUND_MS)).toEqual({
      kind: 'failed',
      service: 'agent',
      state: 'keeps exiting (restarting)',
    });
    const again = run('worker', { restarts: 3, startedAt: now - 50 });
    expect(steadyVerdict([again], [], now, STEADY_BOUND_MS + 10)).toMatchObject({
      kind: 'failed',
      service: 'worker',
      state: 'keeps exiting (restarting)',
    });
  });

  it('never waits past the bound', () => {
    const young = run('agent', { startedAt: now - 10 });
    expect(steadyVerdict([young], [], now, STEADY_BOUND_MS - 30)).toEqual({ kind: 'wait', ms: 30 });
  });
});
