/** What became of an agent's branch when the agent was removed. */
export const BRANCH_OUTCOMES = [
  'deleted',
  'deleted-empty',
  'kept-unmerged',
  'kept-by-request',
  'kept-not-created',
  'none',
] as const;
export type BranchOutcome = (typeof BRANCH_OUTCOMES)[number];

export interface BranchFacts {
  /** --keep-branch */
  keep: boolean;
  /** berth made the branch (it may delete it); false for a branch the user had before. */
  created: boolean;
  exists: boolean;
  /** The branch holds commits its base does not. */
  hasOwnCommits: boolean;
  /** All its commits are in its base, by ancestry or by content. */
  merged: boolean;
}

/**
 * Deletes a branch only when berth made it and deleting it loses nothing: it has no commits of its own,
 * or all of them are in its base.
 */
export function settleBranch(facts: BranchFacts): { delete: boolean; outcome: BranchOutcome } {
  if (facts.keep) return { delete: false, outcome: 'kept-by-request' };
  if (!facts.created) return { delete: false, outcome: 'kept-not-created' };
  if (!facts.exists) return { delete: false, outcome: 'none' };
  if (!facts.hasOwnCommits) return { delete: true, outcome: 'deleted-empty' };
  if (!facts.merged) return { delete: false, outcome: 'kept-unmerged' };
  return { delete: true, outcome: 'deleted' };
}

/** One line for people about what became of the branch ('' when there is nothing to say). */
export function describeBranchOutcome(outcome: BranchOutcome, branch: string): string {
  switch (outcome) {
    case 'deleted':
      return `branch ${branch} was merged: deleted`;
    case 'deleted-empty':
      return `branch ${branch} had no commits of its own: deleted`;
    case 'kept-unmerged':
      return `branch ${branch} has unmerged commits: kept`;
    case 'kept-by-request':
      return `branch ${branch} kept (--keep-branch)`;
    case 'kept-not-created':
      return `branch ${branch} was not created by berth: kept`;
    case 'none':
      return '';
  }
}
