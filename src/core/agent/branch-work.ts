import { commitCount, diffShortStat, mergeBase, resolveCommit } from '../../adapters/git.js';
import type { AgentRecord } from '../../plan/agent.js';
import type { RepoContext } from '../context.js';

/**
 * The base the agent's work is counted against: its base branch as it is now (after `berth sync`
 * rebased the branch onto it, its commits are not the agent's work), else the commit it started from.
 */
async function currentBase(context: RepoContext, agent: AgentRecord): Promise<string> {
  return (await resolveCommit(context.root, agent.baseRef)) ?? agent.baseCommit;
}

/** The agent's work: its own commits, and their diff stat from where they leave the base. */
export async function branchWork(context: RepoContext, agent: AgentRecord) {
  const base = await currentBase(context, agent);
  const branch = `refs/heads/${agent.branch}`;
  const from = (await mergeBase(context.root, base, branch)) ?? agent.baseCommit;
  return {
    commits: await commitCount(context.root, base, agent.branch),
    diffStat: await diffShortStat(context.root, from, branch),
  };
}
