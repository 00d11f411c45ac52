import { z } from 'zod';

/** A branch berth made, as the state remembers it: for which agent, from where, merged into what. */
export const branchRecordSchema = z.object({ agent: z.string(), start: z.string(), base: z.string() });
export type BranchRecord = z.output<typeof branchRecordSchema>;

/** The agent a state's branch entry was made for (older entries are the agent's name alone). */
export function branchAgent(entry: string | BranchRecord): string {
  return typeof entry === 'string' ? entry : entry.agent;
}

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

/** What git says of an agent's branch against where it started and the base it is merged into. */
export interface BranchFacts {
  exists: boolean;
  /** Commits on the branch that its start commit does not have: the agent's own. */
  ownCommits: number;
  /** The branch's tip is an ancestor of its base: every commit of it is in the base. */
  inBaseByAncestry: boolean;
  /** Merging the branch into its base would change nothing (a squash or rebase merge, cherry-picks). */
  inBaseByContent: boolean;
  /** Its own commits change no file at all (empty commits, or changes undone): content says nothing. */
  changesNothing: boolean;
}

/**
 * Where a branch stands: absent; without commits of its own (no work); merged (every commit in its base
 * by ancestry, or its changes landed there by content); or unmerged. The one answer to "is it merged",
 * for gc --merged, teardown and the exit policy alike. A branch whose commits change nothing is merged
 * only by ancestry: its commits are work that the base's content cannot stand for.
 */
export type BranchStanding = 'absent' | 'no-commits' | 'merged' | 'unmerged';

export function branchStanding(facts: BranchFacts): BranchStanding {
  if (!facts.exists) return 'absent';
  if (facts.ownCommits === 0) return 'no-commits';
  if (facts.inBaseByAncestry) return 'merged';
  if (facts.inBaseByContent && !facts.changesNothing) return 'merged';
  return 'unmerged';
}

/**
 * Deletes a branch only when berth made it and deleting it loses nothing: it has no commits of its own,
 * or it is merged.
 */
export function settleBranch(
  standing: BranchStanding,
  options: { keep: boolean; created: boolean },
): { delete: boolean; outcome: BranchOutcome } {
  if (options.keep) return { delete: false, outcome: 'kept-by-request' };
  if (!options.created) return { delete: false, outcome: 'kept-not-created' };
  switch (standing) {
    case 'absent':
      return { delete: false, outcome: 'none' };
    case 'no-commits':
      return { delete: true, outcome: 'deleted-empty' };
    case 'merged':
      return { delete: true, outcome: 'deleted' };
    case 'unmerged':
      return { delete: false, outcome: 'kept-unmerged' };
  }
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
