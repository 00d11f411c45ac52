import { execa } from 'execa';
import { BIN, cli, resultOf } from './cli.js';

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
  let running = true;
  let rounds = 0;
  const actions: Array<Record<string, string | undefined>> = [];
  const errors: string[] = [];
  const loop = (async () => {
    while (running) {
      for (const repo of repos) {
        const result = await execa(process.execPath, [BIN, 'gc', '--repo', repo, '--json', ...extra], {
          reject: false,
        });
        if (result.exitCode !== 0) errors.push(String(result.stderr));
        else actions.push(...resultOf(cli(result), 'gc').actions);
      }
      rounds++;
    }
  })();
  return {
    rounds: () => rounds,
    stop: async () => {
      running = false;
      await loop;
      return { actions, rounds, errors };
    },
  };
}
