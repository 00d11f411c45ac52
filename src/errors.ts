/** Exit codes: 1 = operation failed, 2 = bad input or usage, 3 = environment not ready. */
export const ExitCode = { failure: 1, usage: 2, environment: 3 } as const;

export interface BerthErrorOptions {
  hint?: string;
  exitCode?: number;
  /** A log file with the full story, when there is one. */
  logFile?: string;
  /** Further lines, one per problem (a config file with several bad fields). */
  details?: string[];
  cause?: unknown;
}

/** Every error berth raises on purpose: one line of what went wrong, one line of what to do. */
export class BerthError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly logFile: string | undefined;
  readonly details: string[];

  constructor(code: string, message: string, options: BerthErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failure;
    this.logFile = options.logFile;
    this.details = options.details ?? [];
  }
}

/** Bad input from the user: a name, a flag, a config file. Nothing was created. */
export class UsageError extends BerthError {
  constructor(code: string, message: string, options: BerthErrorOptions = {}) {
    super(code, message, { exitCode: ExitCode.usage, ...options });
    this.name = 'UsageError';
  }
}

/** The host is not ready: engine missing or unreachable, images absent, a tool not installed. */
export class EnvironmentError extends BerthError {
  constructor(code: string, message: string, options: BerthErrorOptions = {}) {
    super(code, message, { exitCode: ExitCode.environment, ...options });
    this.name = 'EnvironmentError';
  }
}

export function isBerthError(error: unknown): error is BerthError {
  return error instanceof BerthError;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The exit code of a command a signal ended, as a shell reports it: 128 + its number (Ctrl-C: 130). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 2);
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** Ctrl-C or SIGTERM stopped a command; what it made was rolled back. */
export function interrupted(hint = 'everything made so far was removed'): BerthError {
  return new BerthError('interrupted', 'interrupted by a signal', {
    hint,
    exitCode: 130,
  });
}

/** berth's one line for an error: what failed, where its log is, and what to do. */
export function errorLine(error: unknown): string {
  const berth = toBerthError(error);
  const message = (messageOf(berth).split('\n')[0] ?? '').trimEnd() || 'unknown error';
  const hint = berth.hint ? ` (hint: ${berth.hint})` : '';
  const log = berth.logFile && !berth.hint?.includes(berth.logFile) ? ` (log: ${berth.logFile})` : '';
  return `berth: error: ${message}${log}${hint}`;
}

const BUG_HINT = 'this is a bug in berth: run it again with BERTH_DEBUG=1 for the stack, and report it';

/**
 * Every error as a BerthError, so each one the user sees is one line with a hint. Operating-system
 * errors that slipped past an adapter get a hint from their code; anything else is a bug.
 */
export function toBerthError(error: unknown): BerthError {
  if (isBerthError(error)) return error;
  const system = error as NodeJS.ErrnoException | undefined;
  const where = system?.path ? ` (${system.path})` : '';
  switch (system?.code) {
    case 'EACCES':
    case 'EPERM':
      return new EnvironmentError('permission-denied', `permission denied${where}`, {
        hint: 'run berth as a user who may write there, or point BERTH_HOME at a folder you own',
        cause: error,
      });
    case 'ENOSPC':
      return new EnvironmentError('disk-full', `no space left on the device${where}`, {
        hint: 'free disk space (docker system df shows what the engine holds), then retry',
        cause: error,
      });
    case 'EMFILE':
    case 'ENFILE':
      return new EnvironmentError('too-many-files', `too many open files${where}`, {
        hint: 'raise the open-file limit (ulimit -n), or run fewer provisions at once',
        cause: error,
      });
    default:
      // The folder berth was started in was removed under it (a worktree torn down meanwhile).
      if (system?.syscall === 'uv_cwd')
        return new UsageError('no-current-folder', 'the current folder no longer exists', {
          hint: 'cd to an existing folder, or pass --repo',
          cause: error,
        });
      return new BerthError('internal', messageOf(error), { hint: BUG_HINT, cause: error });
  }
}
