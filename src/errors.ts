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

/** Ctrl-C or SIGTERM stopped a command; what it made was rolled back. */
export function interrupted(): BerthError {
  return new BerthError('interrupted', 'interrupted by a signal', {
    hint: 'everything made so far was removed',
    exitCode: 130,
  });
}
