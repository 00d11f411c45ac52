import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/core/agent/provision.js';
import { shellQuote } from '../../src/plan/shell.js';
import { readState } from '../../src/state/store.js';
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

  it('on a terminal, shows the step a provision is at, redraws in place and gives the cursor back on Ctrl-C', async () => {
    // script runs the line with $SHELL (dash when it is unset, as under CI), which would die of the
    // Ctrl-C itself: exec hands the terminal to berth alone, as a user's interactive shell does.
    const words = [process.execPath, BIN, 'ls', '--watch', '--repo', repo.root].map(shellQuote);
    const child = execa('script', ['-qfec', ['exec', ...words].join(' '), '/dev/null'], {
      reject: false,
      stdin: 'pipe',
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await until(() => out.includes('w1'), 'a frame with w1');
    const config = join(repo.root, '..', 'held.yaml');
    writeFileSync(config, 'hooks:\n  setup:\n    - until [ -f .release ]; do sleep 0.1; done\n');
    const held = provision({ name: 'w2', repo: repo.root, configPath: config });
    await until(() => /w2 +berth\/w2 +provisioning +setup /.test(out), 'w2 shown at its setup step');
    writeFileSync(
      join(readState(join(repo.root, '.git', 'berth')).agents.w2?.worktree ?? '', '.release'),
      '',
    );
    await held;
    await until(() => /w2 +berth\/w2 +running +- /.test(out), 'w2 running');
    child.stdin?.write('\x03');
    const done = await child;
    expect(done.exitCode).toBe(0);
    expect(out).toContain('\x1b[H');
    expect(out).not.toContain('\x1b[2J\x1b[2J');
    expect(out.endsWith('\x1b[?25h')).toBe(true);
  });
});
