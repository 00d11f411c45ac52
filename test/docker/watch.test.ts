import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/core/agent/provision.js';
import { BIN } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

const until = (seen: () => boolean, what: string) =>
  eventually(async () => {
    if (!seen()) throw new Error(`not yet: ${what}`);
  }, 20_000);

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo.cleanup());

describe('berth ls --watch', () => {
  it('prints a new frame when an agent appears, and ends cleanly on Ctrl-C (not a terminal)', async () => {
    const child = execa(process.execPath, [BIN, 'ls', '--watch', '--repo', repo.root], { reject: false });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await until(() => out.includes('no agents'), 'the first frame');
    await provision({ name: 'w1', repo: repo.root });
    await until(() => /w1 +berth\/w1 +running/.test(out), 'a frame with w1 running');
    expect(out).toMatch(/STEP/);
    expect(out).not.toContain('\x1b[');
    child.kill('SIGINT');
    const done = await child;
    expect(done.exitCode).toBe(0);
    expect(out.split('\n').filter((line) => line.startsWith('-- ')).length).toBeGreaterThanOrEqual(2);
  });

  it('on a terminal, redraws in place and gives the cursor back on Ctrl-C', async () => {
    const line = [process.execPath, BIN, 'ls', '--watch', '--repo', repo.root].join(' ');
    const child = execa('script', ['-qfec', line, '/dev/null'], { reject: false, stdin: 'pipe' });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await until(() => out.includes('w1'), 'a frame with w1');
    child.stdin?.write('\x03');
    const done = await child;
    expect(done.exitCode).toBe(0);
    expect(out).toContain('\x1b[H');
    expect(out).toContain('\x1b[?25h');
  });
});
