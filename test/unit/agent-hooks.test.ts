import { describe, expect, it } from 'vitest';
import {
  agentNameFrom,
  agentsOfClaude,
  claudeHookInputSchema,
  claudeWatchIntervalMs,
  claudeWorktreeKind,
  hasBerthHooks,
  lineDiff,
  mergeClaudeHooks,
  sessionEndFinishes,
  sessionEndOutcome,
  withoutBerthHooks,
} from '../../src/plan/agent-hooks.js';
import { AGENT_NAME_PATTERN } from '../../src/plan/names.js';
import { reapReason } from '../../src/plan/reap.js';
import { agentFixture } from '../helpers/agent-fixture.js';

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

  it('asks Claude Code for no more time than it gives: SessionEnd hooks have at most 60 s', () => {
    const merged = mergeClaudeHooks({}, command);
    const timeout = (event: string) => merged.hooks?.[event]?.[0]?.hooks[0]?.timeout;
    expect(timeout('SessionEnd')).toBe(60);
    expect(timeout('WorktreeCreate')).toBe(600);
    expect(timeout('WorktreeRemove')).toBe(120);
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
    expect(agentNameFrom('feature/auth_2')).toMatch(/^feature-auth-2--[0-9a-f]{8}$/);
    expect(agentNameFrom('42')).toMatch(/^claude-42--[0-9a-f]{8}$/);
    expect(agentNameFrom('')).toMatch(/^claude-worktree--[0-9a-f]{8}$/);
    expect(agentNameFrom('x'.repeat(50))).toHaveLength(32);
    expect(agentNameFrom('fix-login')).toBe('fix-login'); // a plain agent name stays as it is
    expect(agentNameFrom('Fix Login')).toMatch(/^fix-login--[0-9a-f]{8}$/);
    for (const raw of ['Fix_Login', 'x'.repeat(64), '42', '', 'a--b', 'a-', `bg-${'y'.repeat(55)}-0123abcd`])
      expect(agentNameFrom(raw)).toMatch(AGENT_NAME_PATTERN);
  });

  it('gives different worktree names different agents (Claude Code allows 64 of [a-zA-Z0-9._-])', () => {
    const names = [
      'refactor-the-authentication-module-part-one',
      'refactor-the-authentication-module-part-two',
      'Fix_Login',
      'fix.login',
      'fix-login',
      'fix_login',
      'FIX-LOGIN',
      'fix--login',
      'fix-login-',
      'a'.repeat(33),
      'a'.repeat(34),
      '42',
      'claude-42',
    ];
    const agents = names.map(agentNameFrom);
    expect(new Set(agents).size).toBe(names.length);
    // A hashed name cannot be met by a name kept as it is: kept ones have no "--".
    for (const agent of agents.filter((agent) => !agent.includes('--')))
      expect(agentNameFrom(agent)).toBe(agent);
    expect(agentNameFrom(agentNameFrom('Fix_Login'))).not.toBe(agentNameFrom('Fix_Login'));
  });

  it('keeps Claude Code`s hex suffix of a background session`s name in sight when it cuts it', () => {
    const long = 'bg-refactor-the-authentication-module-0123abcd';
    expect(agentNameFrom(long)).toMatch(/^bg-refactor-[a-z-]*-0123abcd--[0-9a-f]{8}$/);
    expect(agentNameFrom(long)).toMatch(AGENT_NAME_PATTERN);
    expect(agentNameFrom('bg-fix-tests-0123abcd')).toBe('bg-fix-tests-0123abcd');
  });
});

describe('the dry run`s diff', () => {
  it('marks added and removed lines', () => {
    expect(lineDiff('a\nb\nc', 'a\nc\nd')).toBe('  a\n- b\n  c\n+ d');
  });
});

describe('berth`s hooks taken out of a settings file', () => {
  it('keeps the user`s settings and hooks, and drops events left empty', () => {
    const merged = mergeClaudeHooks(
      {
        model: 'opus',
        hooks: { SessionEnd: [{ hooks: [{ type: 'command', command: 'notify-send done' }] }] },
      },
      command,
    );
    expect(hasBerthHooks(merged)).toBe(true);
    const cleaned = withoutBerthHooks(merged);
    expect(cleaned).toEqual({
      model: 'opus',
      hooks: { SessionEnd: [{ hooks: [{ type: 'command', command: 'notify-send done' }] }] },
    });
    expect(hasBerthHooks(cleaned)).toBe(false);
    expect(withoutBerthHooks(mergeClaudeHooks({}, command))).toEqual({});
  });
});

describe('the worktrees Claude Code makes for itself', () => {
  it('tells a subagent`s or background session`s worktree from a person`s by its name, as Claude Code does', () => {
    expect(claudeWorktreeKind('agent-a0123456789abcdef')).toBe('subagent'); // "a" and 16 hex digits
    expect(claudeWorktreeKind('agent-a0123abc')).toBe('subagent'); // "a" and 7
    expect(claudeWorktreeKind('agent-a0123456789abcdef0')).toBe('session'); // 17: not Claude's
    expect(claudeWorktreeKind('wf_0123abcd-abc-3')).toBe('subagent');
    expect(claudeWorktreeKind('wf-12')).toBe('subagent');
    expect(claudeWorktreeKind('bg-fix-tests-0123abcd')).toBe('background');
    expect(claudeWorktreeKind('job-nightly-0123abcd')).toBe('background');
    expect(claudeWorktreeKind('bridge-0123abcd')).toBe('background'); // a Remote Control session
    expect(claudeWorktreeKind('bridge-a_b-c')).toBe('background');
    expect(claudeWorktreeKind('bridge-')).toBe('session');
    expect(claudeWorktreeKind('fix-login')).toBe('session');
    expect(claudeWorktreeKind('agent-login')).toBe('session');
  });

  it('takes SessionEnd as the end of the work unless the same process goes on (clear, resume)', () => {
    for (const reason of ['prompt_input_exit', 'logout', 'other', undefined])
      expect(sessionEndFinishes(reason)).toBe(true);
    expect(sessionEndFinishes('clear')).toBe(false);
    expect(sessionEndFinishes('resume')).toBe(false);
  });

  it('keeps the agent a person chose to keep, or that holds work; leaves an unattended session`s empty one', () => {
    expect(sessionEndOutcome('prompt_input_exit', false)).toBe('keep'); // "Keep worktree"
    expect(sessionEndOutcome('logout', false)).toBe('keep');
    expect(sessionEndOutcome('other', true)).toBe('keep'); // claude -p that changed something
    expect(sessionEndOutcome('other', false)).toBe('leave'); // claude -p that could not log in
    expect(sessionEndOutcome('clear', false)).toBe('continues');
  });
});

describe('the agents of a Claude Code session', () => {
  const claudeProcess = { pid: 500, startTime: '42' };
  const bound = (name: string, claude: Record<string, unknown>) =>
    agentFixture({
      name,
      claude: { sessionId: 's1', worktreeName: name, kind: 'session', process: claudeProcess, ...claude },
    });
  const agents = [
    bound('a', {}),
    bound('b', { sessionId: 's0' }), // the same process before a /clear
    bound('c', { sessionId: 's2', process: { pid: 500, startTime: '7' } }), // a reused pid
    bound('d', { endedAt: '2026-11-25T12:00:00.000Z' }),
    agentFixture({ name: 'e' }),
  ];

  it('are found by session id or by Claude Code`s process, whatever cwd Claude sends; ended ones are not', () => {
    const names = (found: typeof agents) => found.map((a) => a.name);
    expect(names(agentsOfClaude(agents, { sessionId: 's1', process: claudeProcess }))).toEqual(['a', 'b']);
    expect(names(agentsOfClaude(agents, { sessionId: 's2' }))).toEqual(['c']);
    expect(names(agentsOfClaude(agents, { process: { pid: 500, startTime: '7' } }))).toEqual(['c']);
    expect(names(agentsOfClaude(agents, {}))).toEqual([]);
  });

  it('are in use while Claude Code`s process runs, whatever their expiry; reaped once it ended and they expired', () => {
    const now = Date.parse('2026-11-25T12:00:00.000Z');
    const lapsed = { ttlSeconds: 120, expiresAt: new Date(now - 1000).toISOString() };
    const agent = { ...bound('a', {}), expiry: lapsed };
    const running = (p: { pid: number }) => p.pid === 500;
    const facts = { now, stackGone: false, worktreeGone: false };
    expect(reapReason(agent, { ...facts, isRunning: running })).toBeUndefined();
    expect(reapReason(agent, { ...facts, isRunning: () => false })?.kind).toBe('expired');
    // Ended through SessionEnd: an ordinary agent, its expiry decides.
    const ended = { ...bound('d', { endedAt: '2026-11-25T11:00:00.000Z' }), expiry: lapsed };
    expect(reapReason(ended, { ...facts, isRunning: running })?.kind).toBe('expired');
  });

  it('are watched often enough for a time to live of seconds, and not busily for one of minutes', () => {
    expect(claudeWatchIntervalMs(2)).toBe(1000);
    expect(claudeWatchIntervalMs(120)).toBe(15_000);
    expect(claudeWatchIntervalMs(20)).toBe(5000);
  });
});

describe('the hook input', () => {
  it('keeps what it does not know and refuses a field of the wrong type', () => {
    const input = { session_id: 's', cwd: '/r', hook_event_name: 'SessionEnd', reason: 'other', extra: 1 };
    expect(claudeHookInputSchema.parse(input)).toEqual(input);
    expect(claudeHookInputSchema.safeParse({ worktree_path: 42 }).success).toBe(false);
  });
});
