import type { Command } from 'commander';
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

/** Runs `work` with an AbortSignal that Ctrl-C (or SIGTERM) triggers, so a command can roll back. */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.on('SIGINT', abort);
  process.on('SIGTERM', abort);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
  }
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
