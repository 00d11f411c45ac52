import { describe, expect, it } from 'vitest';
import { type ContainerRun, STEADY_MS, steadyVerdict } from '../../src/plan/steady.js';

const now = 1_000_000;
const run = (service: string, over: Partial<ContainerRun> = {}): ContainerRun => ({
  service,
  running: true,
  state: 'running',
  restarts: 0,
  startedAt: now - 10 * STEADY_MS,
  ...over,
});

describe('steadyVerdict: when a started stack counts as running', () => {
  it('is steady when every container has run the window', () => {
    expect(steadyVerdict([run('agent'), run('postgres')], ['agent'], now)).toEqual({ kind: 'steady' });
  });

  it('waits for the youngest container to have run the window', () => {
    const runs = [run('agent', { startedAt: now - 100 }), run('postgres', { startedAt: now - 300 })];
    expect(steadyVerdict(runs, ['agent'], now)).toEqual({ kind: 'wait', ms: STEADY_MS - 100 });
  });

  it('waits the whole window for a start the engine dates after now (its clock ahead)', () => {
    expect(steadyVerdict([run('agent', { startedAt: now + 5000 })], [], now)).toEqual({
      kind: 'wait',
      ms: STEADY_MS,
    });
  });

  it('fails on a required container that is not there', () => {
    expect(steadyVerdict([run('postgres')], ['agent'], now)).toEqual({
      kind: 'failed',
      service: 'agent',
      state: 'is missing',
    });
  });

  it('fails on a container that exited, with its state in words', () => {
    const runs = [run('agent'), run('worker', { running: false, state: 'exited with code 3' })];
    expect(steadyVerdict(runs, ['agent'], now)).toEqual({
      kind: 'failed',
      service: 'worker',
      state: 'exited with code 3',
    });
    expect(steadyVerdict([run('worker', { running: false, state: 'created' })], [], now)).toMatchObject({
      state: 'is created',
    });
  });

  it('fails on a container its restart policy brought back just now', () => {
    const runs = [run('agent', { restarts: 1, startedAt: now - 20 })];
    expect(steadyVerdict(runs, ['agent'], now)).toMatchObject({ kind: 'failed', service: 'agent' });
  });

  it('keeps one restarted once and running since (a worker that exits while what it needs starts)', () => {
    expect(steadyVerdict([run('worker', { restarts: 1 })], [], now)).toEqual({ kind: 'steady' });
    expect(steadyVerdict([run('postgres', { restarts: 2 })], [], now)).toEqual({ kind: 'steady' });
  });

  it('fails on a container started again since the earlier look, even with no restart counted', () => {
    const earlier = [run('agent', { startedAt: now - 100 })];
    const later = [run('agent', { startedAt: now - 5 })];
    expect(steadyVerdict(later, ['agent'], now, earlier)).toMatchObject({ kind: 'failed', service: 'agent' });
    const counted = [run('agent', { startedAt: now - 100, restarts: 1 })];
    expect(steadyVerdict(counted, ['agent'], now + STEADY_MS, earlier)).toMatchObject({ kind: 'failed' });
  });
});
