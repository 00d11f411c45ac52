import type { BranchStanding } from './branch.js';

/** What `berth run` and `berth complete` do with the environment when the task ends. */
export const EXIT_POLICIES = ['keep', 'teardown', 'teardown-if-merged'] as const;
export type ExitPolicy = (typeof EXIT_POLICIES)[number];

export type ExitDecision =
  | { teardown: false; result: 'kept' }
  | { teardown: false; result: 'kept-unmerged'; message: string }
  | { teardown: true };

/**
 * The exit policy applied to where the branch stands when the task ends: teardown-if-merged tears down
 * only a branch that is merged (plan/branch.ts), the same answer gc --merged and teardown give; a branch
 * without commits of its own has nothing merged, and is kept with the agent.
 */
export function exitDecision(
  policy: ExitPolicy,
  branch: { name: string; base: string; standing: BranchStanding },
): ExitDecision {
  if (policy === 'keep') return { teardown: false, result: 'kept' };
  if (policy === 'teardown-if-merged' && branch.standing !== 'merged') {
    const why =
      branch.standing === 'no-commits'
        ? `${branch.name} has no commits of its own: nothing is merged`
        : `${branch.name} is not merged into ${branch.base}`;
    return { teardown: false, result: 'kept-unmerged', message: `${why}: kept` };
  }
  return { teardown: true };
}
