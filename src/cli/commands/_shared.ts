import type { Command } from 'commander';
import { BerthError, isBerthError, signalExitCode, UsageError } from '../../errors.js';
import type { Io } from '../output.js';

/** What every command gets: where to print, and where to put an exit code other than 0. */
export interface CliContext {
  io: Io;
  setExitCode: (code: number) => void;
}

export function withRepo(command: Command): Command {
  return command.option('--repo <dir>', 'the git repository (default: the one around the current directory)');
}

export function withJson(command: Command): Command {
  return command.option('--json', 'print one JSON value on stdout');
}

/** Runs `work` with an AbortSignal that Ctrl-C, SIGTERM or a closed terminal (SIGHUP) triggers, so a command can roll back. */
export async function interruptible<T>(
  work: (signal: AbortSignal) => Promise<T>,
  /**
   * For a command that ends normally when interrupted (`up` reports each agent, rolled back or made):
   * given the exit code the signal calls for, to set once its result is printed.
   */
  onSignal?: (exitCode: number) => void,
): Promise<T> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const abort = (name: NodeJS.Signals) => {
    received ??= name;
    controller.abort();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const name of signals) process.on(name, abort);
  try {
    const value = await work(controller.signal);
    if (received) onSignal?.(signalExitCode(received));
    return value;
  } catch (error) {
    // Interrupted: the exit code says by which signal, as a shell's would (130, 143, 129).
    if (received && isBerthError(error) && error.code === 'interrupted')
      throw new BerthError(error.code, error.message, {
        hint: error.hint,
        details: error.details,
        logFile: error.logFile,
        exitCode: signalExitCode(received),
        cause: error,
      });
    throw error;
  } finally {
    for (const name of signals) process.off(name, abort);
  }
}

/**
 * A batch (`berth up`) that, interrupted, still reports each item (rolled back or made): its exit code
 * is the signal's (130, 143, 129), else 1 when any item failed.
 */
export async function interruptibleBatch<T extends { failed: number }>(
  work: (signal: AbortSignal) => Promise<T>,
  setExitCode: (code: number) => void,
): Promise<T> {
  let interruptedBy: number | undefined;
  const result = await interruptible(work, (code) => (interruptedBy = code));
  setExitCode(interruptedBy ?? (result.failed > 0 ? 1 : 0));
  return result;
}

export function table(rows: string[][]): string {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The fleet's queue: --queue, else BERTH_QUEUE_URL (which keeps the password out of `ps`). */
export function withQueue(command: Command): Command {
  return command.option(
    '--queue <url>',
    'the queue URL `berth fleet queue` printed (default: $BERTH_QUEUE_URL)',
  );
}

export function queueOf(options: { queue?: string }, env: NodeJS.ProcessEnv): string {
  const url = options.queue ?? env.BERTH_QUEUE_URL;
  if (!url) {
    throw new UsageError('no-queue', 'no queue given', {
      hint: 'pass --queue URL or set BERTH_QUEUE_URL to the URL `berth fleet queue` printed',
    });
  }
  return url;
}

/** A whole number of at least `min` from a flag, or undefined when the flag was not given. */
export function wholeNumber(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new UsageError('bad-number', `${flag} takes a whole number from ${min}, not "${value}"`, {
      hint: `e.g. ${flag} ${Math.max(min, 2)}`,
    });
  }
  return Number(value);
}
