import { branchTip, commitLog, diffPatch, diffShortStat, mergeBase } from '../../adapters/git.js';
import { BerthError } from '../../errors.js';
import { validateAgentName } from '../../plan/names.js';
import { openRepo, type RepoOptions, requireAgent } from '../context.js';

/** How much of a patch `diff` returns at most; the rest is a `git diff` away. */
export const PATCH_BYTES = 64 * 1024;

export interface AgentDiff {
  name: string;
  branch: string;
  /** What the branch is compared with: the point where it left its base. */
  base: string;
  commits: Array<{ sha: string; subject: string }>;
  stat: string;
  patch?: string;
  truncated?: boolean;
}

/** The agent's work: its branch's commits and diff stat against its base, and the patch if asked. */
export async function agentDiff(
  options: RepoOptions & { name: string; patch?: boolean; maxBytes?: number },
): Promise<AgentDiff> {
  const name = validateAgentName(options.name);
  const context = await openRepo(options, { engine: false });
  const agent = requireAgent(context, name);
  const tip = await branchTip(context.root, agent.branch);
  if (!tip)
    throw new BerthError('branch-missing', `the branch ${agent.branch} of ${name} is gone`, {
      hint: 'see git branch; tear the agent down and provision it again',
    });
  const base = (await mergeBase(context.root, agent.baseRef, tip)) ?? agent.baseCommit;
  const [commits, stat] = await Promise.all([
    commitLog(context.root, base, tip),
    diffShortStat(context.root, base, tip),
  ]);
  const result: AgentDiff = { name, branch: agent.branch, base, commits, stat };
  if (!options.patch) return result;
  const max = options.maxBytes ?? PATCH_BYTES;
  const patch = await diffPatch(context.root, base, tip);
  const truncated = Buffer.byteLength(patch) > max;
  return {
    ...result,
    patch: truncated ? Buffer.from(patch).subarray(0, max).toString('utf8') : patch,
    truncated,
  };
}
