/**
 * When a started stack counts as running: every container runs and has run for STEADY_MS since its
 * (last) start. One its restart policy is bringing back is waited for, up to STEADY_BOUND_MS: a service
 * that exits once while what it needs starts, and then runs, is a common and working pattern; one that
 * keeps exiting is not. A command that cannot start (a missing binary, a bad
 * argument) ends within milliseconds of its container's start; a check at one instant, just after the
 * start, would call it running. The window is counted from the container's own start, so it mostly
 * overlaps the wait for the services to answer. A command that fails later than that (each run of a
 * crash loop lasting longer) is not caught here: `berth ls` shows the agent `partial` then.
 */
export const STEADY_MS = 200;

/** How long a stack that is not yet steady (a container restarting, or just restarted) is waited for. */
export const STEADY_BOUND_MS = 2500;

/** One container's run, as the engine reports it (startedAt in ms, by the engine's clock). */
export interface ContainerRun {
  service: string;
  running: boolean;
  /** Its restart policy is bringing it back (it exited). */
  restarting: boolean;
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
 * The verdict on a stack's containers at `now`, after `waitedMs` of waiting: which one does not keep
 * running (exited, or still restarting at the bound), or how long to wait before looking again.
 */
export function steadyVerdict(
  runs: ContainerRun[],
  required: string[],
  now: number,
  waitedMs: number,
): SteadyVerdict {
  for (const service of required)
    if (!runs.some((run) => run.service === service)) return { kind: 'failed', service, state: 'is missing' };
  const stopped = runs.find((run) => !run.running && !run.restarting);
  if (stopped) return { kind: 'failed', service: stopped.service, state: saidState(stopped.state) };
  // How long each has yet to run; a start the engine dates after now (its clock ahead) counts as now.
  const left = (run: ContainerRun) =>
    run.restarting ? STEADY_MS : STEADY_MS - Math.min(STEADY_MS, Math.max(0, now - run.startedAt));
  const pending = runs.filter((run) => left(run) > 0);
  if (pending.length === 0) return { kind: 'steady' };
  const [first] = pending;
  if (first && waitedMs >= STEADY_BOUND_MS)
    return {
      kind: 'failed',
      service: first.service,
      state: first.restarting || first.restarts > 0 ? RESTARTING : `did not run ${STEADY_MS} ms in a row`,
    };
  // A restarting one is looked at again soon: its restart policy brings it back within a second.
  const ms = pending.some((run) => run.restarting) ? 100 : Math.max(...pending.map(left));
  return { kind: 'wait', ms: Math.min(ms, Math.max(1, STEADY_BOUND_MS - waitedMs)) };
}

/** A container its restart policy is bringing back, in words (as readiness says it). */
const RESTARTING = 'keeps exiting (restarting)';

function saidState(state: string): string {
  return /^(keeps|exited|is) /.test(state) ? state : `is ${state}`;
}
