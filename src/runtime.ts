import { randomBytes } from 'node:crypto';
import { currentProcess, isRunning } from './adapters/processes.js';
import type { ProcessId } from './plan/agent.js';

/**
 * What berth reads from the world that is neither git nor Docker: the clock, randomness, the
 * environment and the processes. Library functions take it injected, so tests can fix it.
 */
export interface Runtime {
  now: () => number;
  randomBytes: (size: number) => Buffer;
  env: NodeJS.ProcessEnv;
  /** This process, so that others can tell whether it still runs. */
  self: () => ProcessId;
  isRunning: (process: ProcessId) => boolean;
}

export const systemRuntime: Runtime = {
  now: () => Date.now(),
  randomBytes: (size) => randomBytes(size),
  get env() {
    return process.env;
  },
  self: () => currentProcess(),
  isRunning: (process) => isRunning(process),
};

/** The environment a library entry point was given, else this process's: the one place that reads it. */
export function envFrom(given: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return given ?? systemRuntime.env;
}

export function runtimeFrom(partial: Partial<Runtime> = {}): Runtime {
  return {
    now: partial.now ?? systemRuntime.now,
    randomBytes: partial.randomBytes ?? systemRuntime.randomBytes,
    env: envFrom(partial.env),
    self: partial.self ?? systemRuntime.self,
    isRunning: partial.isRunning ?? systemRuntime.isRunning,
  };
}
