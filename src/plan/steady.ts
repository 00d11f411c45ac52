/**
 * When a started stack counts as running: every container runs, has not been restarted by its restart
 * policy just now, and has run for STEADY_MS since its (last) start. A command that cannot start (a missing binary, a bad
 * argument) ends within milliseconds of its container's start; a check at one instant, just after the
 * start, would call it running. The window is counted from the container's own start, so it mostly
 * overlaps the wait for the services to answer. A command that fails later than that (each run of a
 * crash loop lasting longer) is not caught here: `berth ls` shows the agent `partial` then.
 */
export const STEADY_MS = 500;

/** One container's run, as the engine reports it (startedAt in ms, by the engine's clock). */
export interface ContainerRun {
  service: string;
  running: boolean;
  /** Its state in words: "exited with code 1", "keeps exiting (restarting)", "missing", … */
  state: string;
  /** How many times its restart policy has restarted it. */
  restarts: number;
  startedAt: number;
}

export type SteadyVerdict =
  | { kind: 'steady' }
  | { kind: 'wait'; ms: number }
  | { kind: 'failed'; service: string; state: string };

/**
 * The verdict on a stack's containers at `now`: which one does not keep running (the first of `order`),
 * or how long to wait before the youngest has run STEADY_MS. `earlier` is the previous look, if any: a
 * container started again since (a restart policy that brought it back) has not kept running.
 */
export function steadyVerdict(
  runs: ContainerRun[],
  required: string[],
  now: number,
  earlier: ContainerRun[] = [],
): SteadyVerdict {
  for (const service of required)
    if (!runs.some((run) => run.service === service)) return { kind: 'failed', service, state: 'is missing' };
  for (const run of runs) {
    const before = earlier.find((e) => e.service === run.service);
    if (!run.running) return { kind: 'failed', service: run.service, state: saidState(run.state) };
    // Restarted, and running since for the window, is steady: a service that exits once while what it
    // needs starts, and runs once its restart policy brings it back, is a common and working pattern (a
    // pool member's Postgres restarted long ago, too). Restarted just now, or since the last look, is not.
    const restartedLately = run.restarts > 0 && now - run.startedAt < STEADY_MS;
    if (
      restartedLately ||
      (before && (before.startedAt !== run.startedAt || before.restarts !== run.restarts))
    )
      return {
        kind: 'failed',
        service: run.service,
        state: 'keeps exiting (restarting)',
      };
  }
  // A start in the future (the engine's clock ahead of ours) waits the whole window.
  const ms = Math.max(
    0,
    ...runs.map((run) => STEADY_MS - Math.min(STEADY_MS, Math.max(0, now - run.startedAt))),
  );
  return ms > 0 ? { kind: 'wait', ms } : { kind: 'steady' };
}

function saidState(state: string): string {
  return /^(keeps|exited|is) /.test(state) ? state : `is ${state}`;
}
