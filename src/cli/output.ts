import { CONTRACT_VERSION, type CommandName, JSON_LINES_COMMANDS, type ResultOf } from '../contract.js';
import { errorLine, messageOf, toBerthError } from '../errors.js';

export { errorLine };

/** Where a command writes: results to stdout, progress and logs to stderr. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Streams bytes to stdout, waiting when it is full (a long log piped to a slow reader). */
  write: (chunk: string | Buffer) => Promise<void>;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  write: (chunk) =>
    new Promise((resolve, reject) => {
      if (process.stdout.write(chunk)) resolve();
      else process.stdout.once('drain', resolve).once('error', reject);
    }),
};

/**
 * The one object a command prints with --json (contract.ts describes every command's result); for a
 * stream (JSON_LINES_COMMANDS), one of its objects, on one line.
 */
export function printResult<C extends CommandName>(io: Io, command: C, result: ResultOf<C>): void {
  const envelope = { contract: CONTRACT_VERSION, command, outcome: 'success', result };
  io.stdout(`${JSON.stringify(envelope, null, oneLine(command) ? undefined : 2)}\n`);
}

function oneLine(command: string): boolean {
  return (JSON_LINES_COMMANDS as readonly string[]).includes(command);
}

export function progressTo(io: Io): (message: string) => void {
  return (message) => io.stderr(`berth: ${message}\n`);
}

/**
 * One line saying what failed and what to do (and detail lines, when there are several problems); in
 * JSON mode also the same as the one object on stdout.
 */
export function reportError(io: Io, error: unknown, json: boolean, command: string): number {
  const berth = toBerthError(error);
  const message = messageOf(berth).split('\n')[0] ?? 'unknown error';
  if (json) {
    const view = {
      code: berth.code,
      message,
      ...(berth.hint && { hint: berth.hint }),
      ...(berth.logFile && { logFile: berth.logFile }),
      ...(berth.details.length > 0 && { details: berth.details }),
    };
    const envelope = { contract: CONTRACT_VERSION, command, outcome: 'error', error: view };
    io.stdout(`${JSON.stringify(envelope, null, oneLine(command) ? undefined : 2)}\n`);
  }
  io.stderr(`${errorLine(berth)}\n`);
  for (const detail of berth.details) io.stderr(`berth:   ${detail}\n`);
  if (process.env.BERTH_DEBUG) io.stderr(`${(error as Error)?.stack ?? ''}\n`);
  return berth.exitCode;
}

export { shellQuote } from '../plan/shell.js';
