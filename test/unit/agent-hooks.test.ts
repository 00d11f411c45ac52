import { describe, expect, it } from 'vitest';
import { agentNameFrom, lineDiff, mergeClaudeHooks } from '../../src/plan/agent-hooks.js';

const command = (event: string) => `/usr/bin/node /opt/berth/dist/berth.mjs agent-hooks claude ${event}`;

describe('merging berth`s hooks into Claude Code settings', () => {
  const mine = {
    model: 'opus',
    hooks: {
      SessionEnd: [{ hooks: [{ type: 'command', command: 'notify-send done' }] }],
      PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'echo mine' }] }],
    },
  };

  it('keeps the user`s settings and hooks, and adds berth`s for each event', () => {
    const merged = mergeClaudeHooks(mine, command);
    expect(merged.model).toBe('opus');
    expect(merged.hooks?.PreToolUse).toEqual(mine.hooks.PreToolUse);
    expect(merged.hooks?.SessionEnd?.map((e) => e.hooks[0]?.command)).toEqual([
      'notify-send done',
      command('session-end'),
    ]);
    expect(merged.hooks?.WorktreeCreate?.[0]?.hooks[0]).toMatchObject({
      command: command('worktree-create'),
    });
  });

  it('is idempotent, and replaces an older berth entry instead of adding one', () => {
    const once = mergeClaudeHooks(mine, command);
    expect(mergeClaudeHooks(once, command)).toEqual(once);
    const moved = mergeClaudeHooks(once, (event) => `/new/node /new/berth.mjs agent-hooks claude ${event}`);
    expect(moved.hooks?.WorktreeRemove).toHaveLength(1);
  });
});

describe('agent names from Claude Code`s worktree names', () => {
  it('makes a valid agent name of anything', () => {
    expect(agentNameFrom('Fix Login')).toBe('fix-login');
    expect(agentNameFrom('feature/auth_2')).toBe('feature-auth-2');
    expect(agentNameFrom('42')).toBe('claude-42');
    expect(agentNameFrom('')).toBe('claude-worktree');
    expect(agentNameFrom('x'.repeat(50))).toHaveLength(32);
  });
});

describe('the dry run`s diff', () => {
  it('marks added and removed lines', () => {
    expect(lineDiff('a\nb\nc', 'a\nc\nd')).toBe('  a\n- b\n  c\n+ d');
  });
});
