import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shInAgent } from '../helpers/agent.js';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { processGone } from '../helpers/processes.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

// Ctrl-C, SIGTERM or SIGHUP to a teardown or a sync stops what berth runs on the host for it (a host
// hook, a `command:` secret) and says what it left; before, the signal ended berth and left them running.
let repo: TestRepo;
let scratch: string;
beforeAll(async () => {
  repo = await makeRepo();
  scratch = mkdtempSync(join(tmpdir(), 'berth-interrupts-'));
});
afterAll(() => {
  repo?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A host command that, while `flag` exists, starts a long sleep, writes its pid, and waits for it. */
const hangsWhile = (flag: string, pidFile: string) =>
  `if [ -e ${flag} ]; then sleep 100 & echo $! > ${pidFile}; wait; fi`;

function config(name: string, text: string): string {
  const path = join(scratch, `${name}.yaml`);
  writeFileSync(path, `postgres: { enabled: false }\nredis: { enabled: false }\n${text}`);
  return path;
}

/** Starts berth, waits until `hung()` says its command hangs, sends `signal`, and returns berth's end. */
async function interruptWhen(args: string[], hung: () => boolean, signal: NodeJS.Signals) {
  const running = execa(process.execPath, [BIN, ...args], { reject: false, stdin: 'ignore' });
  while (!hung() && running.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(running.exitCode, 'berth ended before its command hung').toBeNull();
  running.kill(signal);
  return running;
}

/** As interruptWhen, for a command that writes its pid to `pidFile`: berth's end, and that pid. */
async function interruptWhileHanging(args: string[], pidFile: string, signal: NodeJS.Signals) {
  rmSync(pidFile, { force: true });
  const pid = () => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '');
  const ended = await interruptWhen(args, () => pid() !== '', signal);
  return { ended, hanging: Number(pid()) };
}

async function agentState(name: string) {
  const ls = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
  return ls.find((agent) => agent.name === name)?.state;
}

describe('an interrupted teardown or sync', () => {
  it('teardown: Ctrl-C during a teardown hook stops it and keeps the agent as it was', async () => {
    const flag = join(scratch, 'teardown-hangs');
    const pidFile = join(scratch, 'teardown-hook.pid');
    const hooked = config(
      'teardown-hook',
      `hooks:\n  teardown:\n    - { run: "${hangsWhile(flag, pidFile)}", on: host }\n`,
    );
    const made = await berth(['provision', 'td', '--repo', repo.root, '--config', hooked]);
    expect(made.exitCode, made.stderr).toBe(0);
    writeFileSync(flag, '');
    const { ended, hanging } = await interruptWhileHanging(
      ['teardown', 'td', '--repo', repo.root],
      pidFile,
      'SIGINT',
    );
    expect(ended.exitCode, ended.stderr).toBe(130);
    expect(ended.stderr).toMatch(
      /interrupted by a signal.*nothing of td was removed; its teardown hooks were stopped/,
    );
    expect(await processGone(hanging)).toBe(true);
    expect(await agentState('td')).toBe('running');
    rmSync(flag);
    const again = await berth(['teardown', 'td', '--repo', repo.root]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await leftovers(repo.root, 'td')).toEqual(NOTHING);
  }, 180_000);

  it('teardown: Ctrl-C during a hook in the agent`s container stops it and what it started, even deaf to SIGTERM', async () => {
    const hooked = config(
      'agent-hook',
      `hooks:\n  teardown:\n    - "if [ ! -e /tmp/done ]; then (trap '' TERM; exec sleep 217) & echo $! > /tmp/hook.pid; echo hook-started; wait; fi"\n`,
    );
    const made = await berth(['provision', 'atd', '--repo', repo.root, '--config', hooked]);
    expect(made.exitCode, made.stderr).toBe(0);
    const log = join(repo.root, '.git', 'berth', 'agents', 'atd', 'logs', 'teardown.log');
    const ended = await interruptWhen(
      ['teardown', 'atd', '--repo', repo.root],
      () => existsSync(log) && readFileSync(log, 'utf8').includes('hook-started'),
      'SIGINT',
    );
    expect(ended.exitCode, ended.stderr).toBe(130);
    expect(ended.stderr).toMatch(/nothing of atd was removed; its teardown hooks were stopped/);
    // Before, the sleep outlived its shell (reparented to the container's init) and was never killed.
    const left = await shInAgent(
      repo.root,
      'atd',
      'kill -0 "$(cat /tmp/hook.pid)" 2>/dev/null && echo alive || echo gone',
    );
    expect(left.stdout.trim(), left.stderr).toBe('gone');
    expect((await shInAgent(repo.root, 'atd', 'touch /tmp/done')).exitCode).toBe(0);
    const again = await berth(['teardown', 'atd', '--repo', repo.root]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await leftovers(repo.root, 'atd')).toEqual(NOTHING);
  }, 180_000);

  it('teardown --force: SIGTERM while a command secret masks the patch keeps the work, and a second teardown saves it', async () => {
    const flag = join(scratch, 'secret-hangs');
    const pidFile = join(scratch, 'secret.pid');
    const secret = `${hangsWhile(flag, pidFile)}; echo hooks-only-value`;
    const withSecret = config(
      'secret-hangs',
      `secrets:\n  HOOKS_ONLY: { from: ${JSON.stringify(`command:${secret}`)}, to: [hooks] }\n`,
    );
    const made = await berth(['provision', 'sec', '--repo', repo.root, '--config', withSecret]);
    expect(made.exitCode, made.stderr).toBe(0);
    const at =
      resultOf(await berth(['show', 'sec', '--repo', repo.root, '--json']), 'show').agent?.worktree ?? '';
    writeFileSync(join(at, 'work.txt'), 'unsaved work\n');
    writeFileSync(flag, '');
    const { ended, hanging } = await interruptWhileHanging(
      ['teardown', 'sec', '--force', '--repo', repo.root],
      pidFile,
      'SIGTERM',
    );
    expect(ended.exitCode, ended.stderr).toBe(143);
    expect(ended.stderr).toMatch(/the removal of sec stopped before its worktree went/);
    expect(await processGone(hanging)).toBe(true);
    // Nothing of the work is lost: the worktree and its file are there.
    expect(readFileSync(join(at, 'work.txt'), 'utf8')).toBe('unsaved work\n');
    rmSync(flag);
    const again = await berth(['teardown', 'sec', '--force', '--repo', repo.root, '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    const savedPatch = resultOf(again, 'teardown').savedPatch ?? '';
    expect(readFileSync(savedPatch, 'utf8')).toContain('+unsaved work');
    expect(await leftovers(repo.root, 'sec')).toEqual(NOTHING);
  }, 180_000);

  it('up: Ctrl-C rolls each provision back, prints the summary, and exits 130 (before, 1)', async () => {
    const flag = join(scratch, 'up-hangs');
    const pidFile = join(scratch, 'up-hook.pid');
    const hooked = config(
      'up-hook',
      `hooks:\n  setup:\n    - { run: "${hangsWhile(flag, pidFile)}", on: host }\n`,
    );
    writeFileSync(flag, '');
    const { ended, hanging } = await interruptWhileHanging(
      ['up', 'upa', '--repo', repo.root, '--config', hooked],
      pidFile,
      'SIGINT',
    );
    expect(ended.exitCode, ended.stderr).toBe(130);
    expect(ended.stdout).toMatch(/upa\s+FAILED\s+.*failed at step "setup": interrupted by a signal/);
    expect(ended.stdout).toMatch(/0 of 1 ready, 1 failed/);
    expect(await processGone(hanging)).toBe(true);
    expect(await leftovers(repo.root, 'upa')).toEqual(NOTHING);
    rmSync(flag);
  }, 180_000);

  it('sync: SIGHUP during a setup hook stops it, says the branch was rebased, and a second sync runs it', async () => {
    const flag = join(scratch, 'setup-hangs');
    const pidFile = join(scratch, 'setup-hook.pid');
    const hooked = config(
      'setup-hook',
      `hooks:\n  setup:\n    - { run: "${hangsWhile(flag, pidFile)}", on: host }\n`,
    );
    // A sync reads berth.yaml from the trusted working tree as it is now.
    writeFileSync(join(repo.root, 'berth.yaml'), readFileSync(hooked, 'utf8'));
    const made = await berth(['provision', 'sy', '--repo', repo.root]);
    expect(made.exitCode, made.stderr).toBe(0);
    writeFileSync(flag, '');
    const { ended, hanging } = await interruptWhileHanging(
      ['sync', 'sy', '--repo', repo.root],
      pidFile,
      'SIGHUP',
    );
    expect(ended.exitCode, ended.stderr).toBe(129);
    expect(ended.stderr).toMatch(
      /sy's branch was rebased; its setup hooks were stopped part-way: berth sync sy/,
    );
    expect(await processGone(hanging)).toBe(true);
    expect(await agentState('sy')).toBe('running');
    rmSync(flag);
    const again = await berth(['sync', 'sy', '--repo', repo.root]);
    expect(again.exitCode, again.stderr).toBe(0);
    const gone = await berth(['teardown', 'sy', '--repo', repo.root]);
    expect(gone.exitCode, gone.stderr).toBe(0);
    expect(await leftovers(repo.root, 'sy')).toEqual(NOTHING);
    rmSync(join(repo.root, 'berth.yaml'));
  }, 180_000);
});
