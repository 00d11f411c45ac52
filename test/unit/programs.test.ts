import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CAPTURE_MAX_BYTES, run } from '../../src/adapters/programs.js';
import { processGone } from '../helpers/processes.js';

// The one runner, with real programs: what every git, compose and hook call relies on.
describe('the one runner of programs', () => {
  it('gives the exit code and both outputs, without the final newline', async () => {
    const result = await run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(result).toEqual({ exitCode: 3, stdout: 'out', stderr: 'err' });
  });

  it('passes input on stdin, and runs in / unless told where', async () => {
    expect((await run('cat', [], { input: 'a\nb\n' })).stdout).toBe('a\nb');
    expect((await run('pwd', [])).stdout).toBe('/');
    const folder = mkdtempSync(join(tmpdir(), 'berth-run-'));
    expect((await run('pwd', [], { cwd: folder })).stdout).toBe(folder);
  });

  it('gives the program exactly the environment asked for', async () => {
    // The shell line names the variables itself: printenv prints each one set, in order.
    const result = await run('sh', ['-c', 'printenv ONLY; printenv HOME || echo unset'], {
      env: { ONLY: 'this' },
    });
    expect(result.stdout).toBe('this\nunset');
  });

  it('says a program that is not installed was not started (127), in the system words', async () => {
    const result = await run('berth-no-such-program', ['x']);
    expect(result.exitCode).toBe(127);
    expect(result.notStarted).toBe(true);
    expect(result.stderr).toContain('ENOENT');
  });

  it('stops a program past its time with SIGTERM and says it timed out', async () => {
    const result = await run('sleep', ['30'], { timeoutMs: 200 });
    expect(result).toMatchObject({ exitCode: 143, timedOut: true });
  });

  it('SIGKILLs a program that ignores SIGTERM, after the grace period', async () => {
    const stubborn = "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)";
    const result = await run(process.execPath, ['-e', stubborn], { timeoutMs: 300 });
    expect(result).toMatchObject({ exitCode: 137, timedOut: true, stdout: 'up' });
  }, 15_000);

  it('stops the program when the caller aborts, and starts none when already aborted', async () => {
    const controller = new AbortController();
    const running = run('sleep', ['30'], { signal: controller.signal });
    await sleep(100);
    controller.abort();
    expect((await running).exitCode).toBe(143);
    const folder = mkdtempSync(join(tmpdir(), 'berth-run-'));
    const late = await run('sh', ['-c', `touch ${folder}/started`], { signal: controller.signal });
    expect(late.exitCode).toBe(130);
    expect(() => readFileSync(join(folder, 'started'))).toThrow();
  });

  it('stops a whole group (a shell line and what it started) on timeout', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'berth-run-'));
    const pidFile = join(folder, 'child.pid');
    const line = `sleep 30 & echo $! > ${pidFile}; wait`;
    const result = await run('sh', ['-c', line], { group: true, timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    const child = Number(readFileSync(pidFile, 'utf8').trim());
    expect(child).toBeGreaterThan(0);
    expect(await processGone(child)).toBe(true);
  });

  it('stops the rest of a group on timeout once its shell has ended (a background child holds the output)', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'berth-run-'));
    const pidFile = join(folder, 'child.pid');
    const line = `sleep 30 & echo $! > ${pidFile}; echo started; exit 0`;
    const result = await run('sh', ['-c', line], { group: true, timeoutMs: 300 });
    expect(result).toMatchObject({ timedOut: true, stdout: 'started' });
    expect(await processGone(Number(readFileSync(pidFile, 'utf8').trim()))).toBe(true);
  });

  it('SIGKILLs what in a group ignores SIGTERM after its shell died of it', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'berth-run-'));
    const pidFile = join(folder, 'child.pid');
    const line = `(trap '' TERM; sleep 30) & echo $! > ${pidFile}; wait`;
    const result = await run('sh', ['-c', line], { group: true, timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(await processGone(Number(readFileSync(pidFile, 'utf8').trim()))).toBe(true);
  }, 15_000);

  it('stops reading, after SIGKILL and a grace, the output of what left the group and holds it open', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'berth-run-'));
    const pidFile = join(folder, 'child.pid');
    const line = `setsid sleep 60 & echo $! > ${pidFile}; echo started; exit 0`;
    const result = await run('sh', ['-c', line], { group: true, timeoutMs: 300 });
    expect(result).toMatchObject({ timedOut: true, stdout: 'started' });
    // It left the group: not berth's to stop (a known limit), but not berth's to wait for either.
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
  }, 20_000);

  it('stops a program whose output passes the cap, and fails it in one line (no crash, no unbounded memory)', async () => {
    const bytes = CAPTURE_MAX_BYTES + 1024 * 1024;
    const result = await run('head', ['-c', String(bytes), '/dev/zero']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`its output passed ${CAPTURE_MAX_BYTES / 1024 / 1024} MiB: berth stopped it`);
  }, 20_000);

  it('appends both outputs to a log instead of capturing them', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'berth-run-'));
    const logFile = join(folder, 'step.log');
    const result = await run('sh', ['-c', 'echo one; echo two >&2'], { logFile });
    expect(result).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(readFileSync(logFile, 'utf8').split('\n').sort()).toEqual(['', 'one', 'two']);
  });
});
