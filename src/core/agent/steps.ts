import { interrupted, messageOf } from '../../errors.js';

/** A step failed: which one, and why. */
export class StepFailure<Id extends string = string> extends Error {
  constructor(
    readonly step: Id,
    override readonly cause: unknown,
  ) {
    super(messageOf(cause));
  }
}

type Undo = { what: string; action: () => Promise<unknown> | unknown };

export interface RollbackReport {
  /** Undo actions that failed, in the order they ran. */
  failed: Array<{ what: string; error: unknown }>;
}

/**
 * Runs named steps in order (or two chains at once), remembers how to undo what each made, and on the
 * first failure stops the others; `rollback` then undoes everything, last made first.
 */
export class Steps<Id extends string> {
  private readonly undos: Undo[] = [];
  private readonly stop = new AbortController();
  /** Aborted on the caller's signal (Ctrl-C) or when any step fails. */
  readonly signal: AbortSignal;

  constructor(
    private readonly options: {
      onStep: (id: Id) => void;
      /** Called right after a step finished (a crash switch and a hold for tests). */
      afterStep?: (id: Id) => void | Promise<void>;
      signal?: AbortSignal;
    },
  ) {
    this.signal = options.signal ? AbortSignal.any([options.signal, this.stop.signal]) : this.stop.signal;
  }

  async run<T>(id: Id, work: () => Promise<T> | T): Promise<T> {
    if (this.signal.aborted) throw new StepFailure(id, interrupted());
    this.options.onStep(id);
    try {
      const result = await work();
      await this.options.afterStep?.(id);
      return result;
    } catch (error) {
      this.stop.abort();
      if (error instanceof StepFailure) throw error;
      throw new StepFailure(id, this.options.signal?.aborted ? interrupted() : error);
    }
  }

  /** Runs chains of steps at the same time; the first failure (which stops the others) is thrown. */
  async parallel(...chains: Array<() => Promise<unknown>>): Promise<void> {
    const results = await Promise.allSettled(chains.map((chain) => chain()));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Registers how to undo something about to be made (before making it: a failure may leave half of it). */
  undo(what: string, action: () => Promise<unknown> | unknown): void {
    this.undos.push({ what, action });
  }

  /** Undoes everything registered, last first; a failing undo does not stop the others. */
  async rollback(): Promise<RollbackReport> {
    const failed: RollbackReport['failed'] = [];
    for (const { what, action } of this.undos.reverse()) {
      try {
        await action();
      } catch (error) {
        failed.push({ what, error });
      }
    }
    this.undos.length = 0;
    return { failed };
  }
}

/** Normalises any error thrown out of a step sequence to the step it failed at. */
export function asStepFailure<Id extends string>(error: unknown, first: Id): StepFailure<Id> {
  return error instanceof StepFailure ? (error as StepFailure<Id>) : new StepFailure(first, error);
}
