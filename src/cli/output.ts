import { isBerthError, messageOf } from '../errors.js';

/** Where a command writes: results to stdout, progress and logs to stderr. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export function printJson(io: Io, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

export function progressTo(io: Io): (message: string) => void {
  return (message) => io.stderr(`berth: ${message}\n`);
}

/** One line saying what failed and what to do; in JSON mode the same as one object on stdout. */
export function reportError(io: Io, error: unknown, json: boolean): number {
  const berth = isBerthError(error) ? error : undefined;
  const exitCode = berth?.exitCode ?? 1;
  const message = messageOf(error).split('\n')[0] ?? 'unknown error';
  if (json) {
    printJson(io, {
      outcome: 'error',
      code: berth?.code ?? 'internal',
      message,
      hint: berth?.hint,
      logFile: berth?.logFile,
    });
  }
  const hint = berth?.hint ? ` (hint: ${berth.hint})` : '';
  io.stderr(`berth: error: ${message}${hint}\n`);
  if (!berth && process.env.BERTH_DEBUG) io.stderr(`${(error as Error)?.stack ?? ''}\n`);
  return exitCode;
}
