/** What `berth run` and `berth complete` do with the environment when the task ends. */
export const EXIT_POLICIES = ['keep', 'teardown', 'teardown-if-merged'] as const;
export type ExitPolicy = (typeof EXIT_POLICIES)[number];

export type ExitDecision =
  | { teardown: false; result: 'kept' }
  | { teardown: false; result: 'kept-unmerged'; message: string }
  | { teardown: true };

/** The exit policy applied to what is known about the branch when the task ends. */
export function exitDecision(
  policy: ExitPolicy,
  branch: { name: string; base: string; merged: boolean },
): ExitDecision {
  if (policy === 'keep') return { teardown: false, result: 'kept' };
  if (policy === 'teardown-if-merged' && !branch.merged) {
    return {
      teardown: false,
      result: 'kept-unmerged',
      message: `${branch.name} is not merged into ${branch.base}: kept`,
    };
  }
  return { teardown: true };
}
