import { execa } from 'execa';
import type { CommandName, ResultOf } from '../../src/contract.js';
import { BIN, cli, resultOf } from './cli.js';

export interface CommandLoop<R> {
  /** Stops the loop after its current round; resolves to every result, how many rounds ran, the failures. */
  stop: () => Promise<{ results: R[]; rounds: number; errors: string[] }>;
  rounds: () => number;
}

/**
 * `while :; do berth <args> --repo R --json; done` for each repository, beside whatever the test does, as a
 * hostile user ran it. Every run must succeed: a failure's stderr is kept in `errors`.
 */
export function commandLoop<C extends CommandName, R>(
  command: C,
  args: string[],
  repos: string[],
  collect: (result: ResultOf<C>) => R[],
): CommandLoop<R> {
  let running = true;
  let rounds = 0;
  const results: R[] = [];
  const errors: string[] = [];
  const loop = (async () => {
    while (running) {
      for (const repo of repos) {
        const result = await execa(process.execPath, [BIN, ...args, '--repo', repo, '--json'], {
          reject: false,
        });
        if (result.exitCode !== 0) errors.push(String(result.stderr));
        else results.push(...collect(resultOf(cli(result), command)));
      }
      rounds++;
    }
  })();
  return {
    rounds: () => rounds,
    stop: async () => {
      running = false;
      await loop;
      return { results, rounds, errors };
    },
  };
}

export interface GcLoop {
  /** Stops the loop after its current round; resolves to every action it took, and how many rounds ran. */
  stop: () => Promise<{
    actions: Array<Record<string, string | undefined>>;
    rounds: number;
    errors: string[];
  }>;
  rounds: () => number;
}

/** `while :; do berth gc; done` beside whatever the test does, as a hostile user ran it. */
export function gcLoop(repos: string[], extra: string[] = []): GcLoop {
  const loop = commandLoop(
    'gc',
    ['gc', ...extra],
    repos,
    (result) => result.actions as Array<Record<string, string | undefined>>,
  );
  return {
    rounds: loop.rounds,
    stop: async () => {
      const { results, rounds, errors } = await loop.stop();
      return { actions: results, rounds, errors };
    },
  };
}
