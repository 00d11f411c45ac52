import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { berth, listedAgents, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

/*
 * berth's Claude Code hooks, driven through the real Claude Code (the pinned devDependency), with no
 * credentials: `claude -w NAME -p …` runs WorktreeCreate and then fails ("Not logged in"); an interactive
 * session in tmux runs WorktreeCreate, and on /exit asks "Keep worktree" or "Remove worktree". A capture
 * hook beside berth's records what Claude Code really sends, and the test checks berth handled exactly
 * that. Each session gets a HOME of its own (nothing of the machine's user leaks in), with the repository
 * trusted as Claude Code records it.
 */

const CLAUDE = new URL('../../node_modules/.bin/claude', import.meta.url).pathname;
const EVENTS = ['WorktreeCreate', 'WorktreeRemove', 'SessionEnd'] as const;
/** The time to live of agents Claude Code's hooks make, short so that a failed session's agent goes in seconds. */
const LEASE = '3s';

interface Captured {
  event: string;
  input: Record<string, unknown>;
}

let repo: TestRepo;
let scratch: string;
let captureFile: string;

beforeAll(async () => {
  repo = await makeRepo({
    files: {
      'berth.yaml': `claude: { ttl: ${LEASE} }\n`,
      '.gitignore': '.env\nsecret.key\n',
      '.worktreeinclude': '.env\n',
    },
  });
  writeFileSync(join(repo.root, '.env'), 'API_KEY=abc\n', { mode: 0o600 });
  writeFileSync(join(repo.root, 'secret.key'), 'not named in .worktreeinclude\n');
  scratch = mkdtempSync(join(tmpdir(), 'berth-claude-'));
  captureFile = join(scratch, 'captured.jsonl');
  const installed = await berth(['agent-hooks', 'install', 'claude', '--repo', repo.root]);
  expect(installed.exitCode, installed.stderr).toBe(0);
  // The capture hook runs first for each event berth answers, and records Claude Code's input as it is.
  const capture = join(scratch, 'capture.mjs');
  writeFileSync(
    capture,
    `import { appendFileSync, readFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(captureFile)}, JSON.stringify({ event: process.argv[2], input: JSON.parse(readFileSync(0, 'utf8')) }) + '\\n');
`,
  );
  const settingsFile = join(repo.root, '.claude', 'settings.local.json');
  const settings = JSON.parse(readFileSync(settingsFile, 'utf8'));
  for (const event of EVENTS)
    settings.hooks[event].unshift({
      hooks: [{ type: 'command', command: `${process.execPath} ${capture} ${event}` }],
    });
  writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
});

afterEach(() => rmSync(captureFile, { force: true }));
afterAll(async () => {
  await repo?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** A HOME of its own for one Claude Code session: onboarding done, the repository trusted. */
function claudeHome(): string {
  const home = mkdtempSync(join(scratch, 'home-'));
  writeFileSync(
    join(home, '.claude.json'),
    JSON.stringify({
      hasCompletedOnboarding: true,
      projects: { [repo.root]: { hasTrustDialogAccepted: true } },
    }),
  );
  return home;
}

/** The environment Claude Code runs in: the test's (berth's test labels), without any Claude or API setting. */
function claudeEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !/^(CLAUDE|ANTHROPIC)/.test(key)) env[key] = value;
  return { ...env, HOME: home, DISABLE_AUTOUPDATER: '1' };
}

function captured(): Captured[] {
  try {
    return readFileSync(captureFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Captured);
  } catch {
    return [];
  }
}

const agents = async () => listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
/** What the watchers of Claude Code's processes wrote (the agents they removed, and when they let go). */
async function watchLog(): Promise<string> {
  const dir = join(repo.root, '.git', 'berth', 'claude');
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .map((file) => readFileSync(join(dir, file), 'utf8'))
    .join('');
}

describe('claude -w NAME -p … without credentials', () => {
  it('makes an agent through WorktreeCreate, fails, and the agent is gone once its short time to live ran out', async () => {
    const run = await execa(CLAUDE, ['-w', 'print-fail', '-p', 'say hello'], {
      cwd: repo.root,
      env: claudeEnv(claudeHome()),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: 120_000,
    });
    expect(run.exitCode).toBe(1);
    expect(`${run.stdout}${run.stderr}`).toContain('Not logged in');
    const [create, end, ...rest] = captured();
    expect(rest).toEqual([]);
    expect(create?.event).toBe('WorktreeCreate');
    expect(create?.input).toMatchObject({
      hook_event_name: 'WorktreeCreate',
      name: 'print-fail',
      cwd: repo.root,
    });
    expect(typeof create?.input.session_id).toBe('string');
    // Print mode sends the worktree as cwd, and "other" as the reason; the session left no work.
    expect(end?.event).toBe('SessionEnd');
    expect(end?.input).toMatchObject({
      hook_event_name: 'SessionEnd',
      reason: 'other',
      session_id: create?.input.session_id,
      cwd: `${repo.root}.worktrees/print-fail`,
    });
    // Nothing renews its expiry now that Claude Code has exited: the watcher removes it.
    await eventually(async () => expect(await agents()).toEqual([]), 60_000, 500);
    expect(await watchLog()).toMatch(/print-fail: removed \(it expired/);
    const branches = await repo.git('branch', '--list', 'berth/print-fail');
    expect(branches).toBe('');
  });
});

describe('claude -w NAME where berth made the agent NAME otherwise', () => {
  it('refuses the worktree: the agent keeps its expiry, is bound to no session and is not reaped', async () => {
    const made = await berth(['provision', 'by-hand', '--repo', repo.root, '--json']);
    expect(made.exitCode, made.stderr).toBe(0);
    const before = resultOf(await berth(['show', 'by-hand', '--repo', repo.root, '--json']), 'show').agent;
    expect(before?.claude).toBeUndefined();
    const run = await execa(CLAUDE, ['-w', 'by-hand', '-p', 'say hello'], {
      cwd: repo.root,
      env: claudeEnv(claudeHome()),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: 120_000,
    });
    expect(run.exitCode).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toContain('agent by-hand exists and was not made by Claude Code');
    expect(captured()[0]?.input).toMatchObject({ hook_event_name: 'WorktreeCreate', name: 'by-hand' });
    // Past the claude.ttl (3 s) and a watcher's looks, it is still there, on its own expiry, unbound.
    await sleep(8000);
    const after = resultOf(await berth(['show', 'by-hand', '--repo', repo.root, '--json']), 'show').agent;
    expect(after?.claude).toBeUndefined();
    expect(after?.expiry).toEqual(before?.expiry);
    expect(after?.state).toBe('running');
    expect(existsSync(after?.worktree ?? '/nonexistent')).toBe(true);
    expect(await watchLog()).not.toContain('by-hand');
    const removed = await berth(['teardown', 'by-hand', '--repo', repo.root, '--force']);
    expect(removed.exitCode, removed.stderr).toBe(0);
  });
});

/** An interactive Claude Code in a tmux session of its own (a private server socket). */
class Tmux {
  private readonly socket: string;
  constructor(private readonly home: string) {
    this.socket = join(scratch, `tmux-${Date.now()}`);
  }

  async start(args: string[]): Promise<void> {
    const env = claudeEnv(this.home);
    const line = [CLAUDE, ...args].map((word) => `'${word}'`).join(' ');
    await execa(
      'tmux',
      [
        '-S',
        this.socket,
        'new-session',
        '-d',
        '-x',
        '160',
        '-y',
        '40',
        '-c',
        repo.root,
        `${line}; echo "CLAUDE EXITED $?"; sleep 600`,
      ],
      { env, extendEnv: false },
    );
  }

  async screen(): Promise<string> {
    return (await execa('tmux', ['-S', this.socket, 'capture-pane', '-p'])).stdout;
  }

  async waitFor(text: string, timeoutMs = 60_000): Promise<string> {
    return eventually(
      async () => {
        const screen = await this.screen();
        if (!screen.includes(text)) throw new Error(`"${text}" not on the screen:\n${screen}`);
        return screen;
      },
      timeoutMs,
      250,
    );
  }

  async type(text: string): Promise<void> {
    await execa('tmux', ['-S', this.socket, 'send-keys', '-l', text]);
  }

  async keys(...keys: string[]): Promise<void> {
    for (const key of keys) {
      await execa('tmux', ['-S', this.socket, 'send-keys', key]);
      await sleep(300);
    }
  }

  async kill(): Promise<void> {
    await execa('tmux', ['-S', this.socket, 'kill-server'], { reject: false });
  }
}

/** Starts `claude -w NAME` in tmux and waits until it runs in berth's worktree, ready for input. */
async function interactive(name: string): Promise<{ tmux: Tmux; sessionId: string }> {
  const tmux = new Tmux(claudeHome());
  await tmux.start(['-w', name]);
  await tmux.waitFor(`${repo.root}.worktrees/${name}`);
  await tmux.waitFor('Not logged in');
  const create = captured().find((c) => c.event === 'WorktreeCreate');
  expect(create?.input).toMatchObject({ hook_event_name: 'WorktreeCreate', name, cwd: repo.root });
  return { tmux, sessionId: String(create?.input.session_id) };
}

/** Types /exit and answers Claude Code's question about the worktree. */
async function exitChoosing(tmux: Tmux, choice: 'Keep worktree' | 'Remove worktree'): Promise<string> {
  await tmux.type('/exit');
  await tmux.waitFor('/exit');
  await tmux.keys('Enter');
  await tmux.waitFor('Remove worktree');
  await tmux.keys(...(choice === 'Remove worktree' ? ['Down', 'Enter'] : ['Enter']));
  return tmux.waitFor('CLAUDE EXITED 0');
}

describe('an interactive claude -w NAME in tmux, without credentials', () => {
  let tmux: Tmux | undefined;
  afterEach(async () => {
    await tmux?.kill();
    tmux = undefined;
  });

  it('"Remove worktree": WorktreeRemove finds the agent by its worktree and removes it', async () => {
    const session = await interactive('remove-me');
    tmux = session.tmux;
    const [agent] = await agents();
    expect(agent?.claude).toMatchObject({
      sessionId: session.sessionId,
      worktreeName: 'remove-me',
      kind: 'session',
      running: true,
    });
    // The time to live is claude.ttl, renewed while Claude Code runs: past its first expiry the agent is still
    // there with a later one, and gc leaves it (Claude Code's process holds it in use).
    const first = agent?.expiry.expiresAt ?? '';
    expect(agent?.expiry.ttlSeconds).toBe(3);
    await eventually(async () => expect(Date.now()).toBeGreaterThan(Date.parse(first) + 1000), 10_000, 250);
    const gc = resultOf(await berth(['gc', '--repo', repo.root, '--json']), 'gc');
    expect(gc.actions.filter((a) => a.kind === 'agent')).toEqual([]);
    const [renewed] = await agents();
    expect(Date.parse(renewed?.expiry.expiresAt ?? '')).toBeGreaterThan(Date.parse(first));

    const screen = await exitChoosing(tmux, 'Remove worktree');
    expect(screen).toContain('Worktree removed.');
    expect(await agents()).toEqual([]);
    const events = captured();
    expect(events.map((c) => c.event)).toEqual(['WorktreeCreate', 'WorktreeRemove', 'SessionEnd']);
    expect(events[1]?.input).toMatchObject({
      session_id: session.sessionId,
      worktree_path: agent?.worktree,
      cwd: agent?.worktree,
    });
    // SessionEnd comes after the removal, with the repository as cwd: nothing is left for it to do.
    expect(events[2]?.input).toMatchObject({
      session_id: session.sessionId,
      reason: 'prompt_input_exit',
      cwd: repo.root,
    });
  });

  it('"Keep worktree": SessionEnd (cwd: the repository) completes the task and the agent is kept', async () => {
    const session = await interactive('keep-me');
    tmux = session.tmux;
    const [agent] = await agents();
    const worktree = agent?.worktree ?? '';
    // .worktreeinclude: the ignored file it names is there with its mode; the other is not.
    expect(statSync(join(worktree, '.env')).mode & 0o777).toBe(0o600);
    expect(() => statSync(join(worktree, 'secret.key'))).toThrow();

    const screen = await exitChoosing(tmux, 'Keep worktree');
    expect(screen).toContain(`Worktree kept. Your work is saved at ${worktree}`);
    const events = captured();
    expect(events.map((c) => c.event)).toEqual(['WorktreeCreate', 'SessionEnd']);
    expect(events[1]?.input).toMatchObject({
      session_id: session.sessionId,
      reason: 'prompt_input_exit',
      cwd: repo.root,
    });
    const shown = resultOf(await berth(['show', 'keep-me', '--repo', repo.root, '--json']), 'show');
    expect(shown.task?.completedAt).toBeTruthy();
    expect(shown.agent?.claude).toMatchObject({ sessionId: session.sessionId, endedAt: expect.any(String) });
    expect(shown.agent?.expiry.ttlSeconds).toBe(1800);
    // Claude Code has exited; the watcher lets go of the kept agent, and it stays.
    await eventually(async () => expect(await watchLog()).toContain('no agent of this Claude Code process'));
    expect((await agents()).map((a) => a.name)).toEqual(['keep-me']);
    const text = await berth(['ls', '--repo', repo.root]);
    expect(text.stdout).toMatch(new RegExp(`keep-me .+ ${session.sessionId.slice(0, 8)} \\(ended\\)`));

    // claude -w keep-me again enters the kept agent, bound to the new session: that one fails to log in
    // and leaves no work, so the agent goes with it.
    rmSync(captureFile, { force: true });
    const again = await execa(CLAUDE, ['-w', 'keep-me', '-p', 'say hello'], {
      cwd: repo.root,
      env: claudeEnv(claudeHome()),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: 120_000,
    });
    expect(again.exitCode).toBe(1);
    const [create, end] = captured();
    expect(create?.input).toMatchObject({ hook_event_name: 'WorktreeCreate', name: 'keep-me' });
    expect(create?.input.session_id).not.toBe(session.sessionId);
    expect(end?.input).toMatchObject({ hook_event_name: 'SessionEnd', reason: 'other', cwd: worktree });
    await eventually(async () => expect(await agents()).toEqual([]), 60_000, 500);
  });
});
