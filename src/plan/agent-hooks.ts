import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type AgentRecord, type ProcessId, sameProcess } from './agent.js';
import { AGENT_NAME_PATTERN } from './names.js';

/** The hook events berth answers in Claude Code, and the berth subcommand each runs. */
export const CLAUDE_HOOKS = {
  WorktreeCreate: 'worktree-create',
  WorktreeRemove: 'worktree-remove',
  SessionEnd: 'session-end',
} as const;

/**
 * The time each of berth's hooks is given, in seconds. WorktreeCreate provisions a whole environment.
 * Claude Code 2.1.332 gives the SessionEnd hooks together at most 60 s (and at least 1.5 s), whatever
 * a hook's `timeout` says (more only through CLAUDE_CODE_SESSIONEND_HOOKS_TIMEOUT_MS): berth asks for
 * what it is given.
 */
export const HOOK_TIMEOUT_SECONDS: Record<keyof typeof CLAUDE_HOOKS, number> = {
  WorktreeCreate: 600,
  WorktreeRemove: 120,
  SessionEnd: 60,
};

type HookEntry = { matcher?: string; hooks: Array<{ type: string; command: string; timeout?: number }> };
export type ClaudeSettings = Record<string, unknown> & { hooks?: Record<string, HookEntry[]> };

/**
 * Claude Code's settings with berth's hooks in: the user's settings and other hooks kept as they are,
 * berth's entries replaced (not added again), so installing twice changes nothing.
 */
export function mergeClaudeHooks(
  settings: ClaudeSettings,
  command: (subcommand: string) => string,
): ClaudeSettings {
  const hooks: Record<string, HookEntry[]> = { ...(settings.hooks ?? {}) };
  for (const [event, subcommand] of Object.entries(CLAUDE_HOOKS)) {
    const line = command(subcommand);
    const others = (hooks[event] ?? [])
      .map((entry) => ({ ...entry, hooks: entry.hooks.filter((h) => !isBerthHook(h.command)) }))
      .filter((entry) => entry.hooks.length > 0);
    const timeout = HOOK_TIMEOUT_SECONDS[event as keyof typeof CLAUDE_HOOKS];
    hooks[event] = [...others, { hooks: [{ type: 'command', command: line, timeout }] }];
  }
  return { ...settings, hooks };
}

/** The settings without berth's hooks (an event left with no entry goes), the user's kept as they are. */
export function withoutBerthHooks(settings: ClaudeSettings): ClaudeSettings {
  if (!settings.hooks) return settings;
  const hooks: Record<string, HookEntry[]> = {};
  for (const [event, entries] of Object.entries(settings.hooks)) {
    const kept = entries
      .map((entry) => ({ ...entry, hooks: entry.hooks.filter((h) => !isBerthHook(h.command)) }))
      .filter((entry) => entry.hooks.length > 0);
    if (kept.length > 0) hooks[event] = kept;
  }
  const { hooks: _old, ...rest } = settings;
  return Object.keys(hooks).length > 0 ? { ...rest, hooks } : rest;
}

export function hasBerthHooks(settings: ClaudeSettings): boolean {
  return Object.values(settings.hooks ?? {}).some((entries) =>
    entries.some((entry) => entry.hooks.some((h) => isBerthHook(h.command))),
  );
}

const BERTH_MARK = ' agent-hooks claude ';
export function isBerthHook(command: string): boolean {
  return command.includes(BERTH_MARK);
}

/**
 * What Claude Code sends on stdin, as measured from Claude Code 2.1.332 (every event also carries
 * `transcript_path`, and some `prompt_id`, `permission_mode`, `agent_id`, `agent_type`):
 * - WorktreeCreate: `session_id`, `cwd` (where Claude was started), `name`. Its hooks reference also
 *   documents `worktree_name` and `source_ref`, which berth takes when they come.
 * - WorktreeRemove: `session_id`, `cwd` (the worktree), `worktree_path` (what WorktreeCreate printed).
 * - SessionEnd: `session_id`, `cwd` (where Claude was started, not the worktree), `reason`.
 * Unknown fields are kept; a field of the wrong type is refused.
 */
export const claudeHookInputSchema = z.looseObject({
  session_id: z.string().optional(),
  cwd: z.string().optional(),
  hook_event_name: z.string().optional(),
  name: z.string().optional(),
  worktree_name: z.string().optional(),
  source_ref: z.string().optional(),
  worktree_path: z.string().optional(),
  reason: z.string().optional(),
});
export type ClaudeHookInput = z.output<typeof claudeHookInputSchema>;

export type ClaudeWorktreeKind = NonNullable<AgentRecord['claude']>['kind'];

/**
 * The names Claude Code gives the worktrees it makes for itself, and the patterns it tells them from a
 * person's by (read from Claude Code 2.1.332): `agent-a` and 7 or 16 hex digits for a subagent with
 * `isolation: "worktree"`, `wf_…` and `wf-N` for a workflow's agents, `bg-<name>-<8 hex>` and
 * `job-<name>-<8 hex>` for background sessions, `bridge-…` for a session driven from elsewhere (Remote
 * Control), which berth gives a background session's light environment. Its hook input says nothing else about it: the
 * WorktreeCreate input of a subagent's worktree carries the parent session's id and no agent id.
 */
const SUBAGENT_WORKTREE = [
  /^agent-a[0-9a-f]{16}$/,
  /^agent-a[0-9a-f]{7}$/,
  /^wf_[0-9a-f]{8}-[0-9a-f]{3}-\d+$/,
  /^wf-\d+$/,
];
const BACKGROUND_WORKTREE = [
  /^bridge-[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*$/,
  /^bg-[a-zA-Z0-9._-]{1,55}-[0-9a-f]{8}$/,
  /^job-[a-zA-Z0-9._-]{1,55}-[0-9a-f]{8}$/,
];

export function claudeWorktreeKind(name: string): ClaudeWorktreeKind {
  if (SUBAGENT_WORKTREE.some((pattern) => pattern.test(name))) return 'subagent';
  if (BACKGROUND_WORKTREE.some((pattern) => pattern.test(name))) return 'background';
  return 'session';
}

/**
 * Whether a SessionEnd ends the work in the worktree. `clear` and `resume` end one conversation and
 * start another in the same Claude Code process, which goes on working there.
 */
export function sessionEndFinishes(reason: string | undefined): boolean {
  return reason !== 'clear' && reason !== 'resume';
}

/**
 * What becomes of a session's agent at its SessionEnd:
 * - continues: /clear or /resume, the same process goes on in the worktree;
 * - keep: its task is completed and the agent kept, as any agent whose task is done (`ttl`). A
 *   person ended an interactive session (`prompt_input_exit`, `logout`): Claude Code asked them "Keep
 *   worktree" or "Remove worktree", and WorktreeRemove has come already if they chose to remove it. Or a
 *   session nobody was asked about (`other`: print mode, the SDK) left work in the worktree;
 * - leave: a session nobody was asked about left no work (no commit, nothing uncommitted: a session
 *   that could not log in, or that failed at once): nothing to keep, so the agent stays on its short
 *   `claude.ttl` and goes once Claude Code's process has ended.
 */
export function sessionEndOutcome(
  reason: string | undefined,
  worked: boolean,
): 'continues' | 'keep' | 'leave' {
  if (!sessionEndFinishes(reason)) return 'continues';
  if (reason === 'prompt_input_exit' || reason === 'logout') return 'keep';
  return worked ? 'keep' : 'leave';
}

/**
 * The agents a Claude Code session made: by its session id, or by Claude Code's process (a session id
 * changes on /clear and /resume; the process does not). Agents whose session ended are not its any more.
 */
export function agentsOfClaude(
  agents: AgentRecord[],
  session: { sessionId?: string; process?: ProcessId },
): AgentRecord[] {
  return agents.filter((agent) => {
    const claude = agent.claude;
    if (!claude || claude.endedAt) return false;
    if (session.sessionId && claude.sessionId === session.sessionId) return true;
    return Boolean(session.process && claude.process && sameProcess(session.process, claude.process));
  });
}

/** How often a watcher of a Claude Code process looks at it and renews its agents' leases. */
export function claudeWatchIntervalMs(leaseSeconds: number): number {
  return Math.min(15_000, Math.max(1000, (leaseSeconds * 1000) / 4));
}

/**
 * An agent name from what Claude Code calls the worktree (up to 64 of [a-zA-Z0-9._-]), one to one: a
 * name that is a plain agent name already (lowercase, digits, single dashes, at most 32) is kept as it
 * is; any other is made readable (lowercase, `_` and `.` as `-`, cut) and given `--` and 8 hex digits of
 * the hash of the exact name, so `Fix_Login` and `fix.login`, or two long names alike in their first 32
 * characters, are different agents. A kept name never has `--`, so it cannot meet a hashed one. A
 * background session's name keeps Claude Code's own hex suffix in the readable part.
 */
export function agentNameFrom(raw: string): string {
  if (AGENT_NAME_PATTERN.test(raw) && !raw.includes('--') && !raw.endsWith('-')) return raw;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const named = /^[a-z]/.test(cleaned) ? cleaned : `claude-${cleaned || 'worktree'}`;
  const room = 32 - 2 - hash.length;
  const suffix = BACKGROUND_SUFFIX.exec(named)?.[0] ?? '';
  const readable =
    suffix && claudeWorktreeKind(raw) === 'background'
      ? `${named.slice(0, room - suffix.length).replace(/-+$/, '')}${suffix}`
      : named.slice(0, room).replace(/-+$/, '');
  return `${readable}--${hash}`;
}

/** Claude Code's random suffix of a background session's worktree name. */
const BACKGROUND_SUFFIX = /-[0-9a-f]{8}$/;

/** A line diff of two texts, `-`/`+`/` ` prefixed (a longest common subsequence of lines). */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const width = b.length + 1;
  // common[i * width + j]: the longest common subsequence of a[i..] and b[j..].
  const common = new Uint32Array((a.length + 1) * width);
  const at = (i: number, j: number) => common[i * width + j] ?? 0;
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      common[i * width + j] = a[i] === b[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (j < b.length && (i === a.length || at(i, j + 1) >= at(i + 1, j))) out.push(`+ ${b[j++]}`);
    else out.push(`- ${a[i++]}`);
  }
  return out.join('\n');
}
