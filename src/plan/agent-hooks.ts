/** The hook events berth answers in Claude Code, and the berth subcommand each runs. */
export const CLAUDE_HOOKS = {
  WorktreeCreate: 'worktree-create',
  WorktreeRemove: 'worktree-remove',
  SessionEnd: 'session-end',
} as const;

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
    // WorktreeCreate provisions a whole environment: give it time.
    const timeout = event === 'WorktreeCreate' ? 600 : 120;
    hooks[event] = [...others, { hooks: [{ type: 'command', command: line, timeout }] }];
  }
  return { ...settings, hooks };
}

const BERTH_MARK = ' agent-hooks claude ';
export function isBerthHook(command: string): boolean {
  return command.includes(BERTH_MARK);
}

/** An agent name from what Claude Code calls the worktree: lowercase, letters, digits and dashes. */
export function agentNameFrom(raw: string): string {
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const named = /^[a-z]/.test(cleaned) ? cleaned : `claude-${cleaned || 'worktree'}`;
  return named.slice(0, 32).replace(/-+$/, '');
}

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
