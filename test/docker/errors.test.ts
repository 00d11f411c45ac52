import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, expectCleanStderr, listedAgents, resultOf } from '../helpers/cli.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
let scratch: string;
beforeAll(async () => {
  repo = await makeRepo();
  scratch = mkdtempSync(join(tmpdir(), 'berth-errors-'));
});
afterAll(async () => {
  await repo?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const stateFile = () => join(repo.root, '.git', 'berth', 'state.json');

/** A PATH holding only the named programs (and node, run by path): a host where the others are missing. */
async function pathWith(programs: string[]): Promise<string> {
  const bin = mkdtempSync(join(scratch, 'bin-'));
  for (const program of programs) {
    symlinkSync((await execa('sh', ['-c', `command -v ${program}`])).stdout, join(bin, program));
  }
  return bin;
}

describe('errors that reach the user are one line with a hint', () => {
  it('a corrupt state file: names the file, says what is wrong, and how to recover from the backup', async () => {
    const first = await berth(['provision', 'keep', '--repo', repo.root]);
    expect(first.exitCode, first.stderr).toBe(0);
    // The backup is the state before the last change: one more change makes it hold the agent.
    expect((await berth(['heartbeat', 'keep', '--repo', repo.root])).exitCode).toBe(0);

    writeFileSync(stateFile(), '{"version": 1, "agents": {"keep": {"name": "ke');
    const corrupt = await berth(['ls', '--repo', repo.root]);
    expect(corrupt.exitCode).toBe(1);
    expect(expectCleanStderr(corrupt.stderr)).toEqual([]);
    expect(corrupt.stderr.trim().split('\n')).toHaveLength(1);
    expect(corrupt.stderr).toMatch(
      /state file .*state\.json is not valid JSON .*\(hint: restore the last good state \(cp .*state\.json\.bak .*state\.json\)/,
    );

    writeFileSync(stateFile(), '{"version": 2, "agents": {}}\n');
    const newer = await berth(['ls', '--repo', repo.root]);
    expect(newer.stderr).toMatch(/has version 2, which this berth \(state version 1\) cannot read/);

    writeFileSync(stateFile(), '{"version": 1, "agents": {"x": {"name": 3}}}\n');
    const wrong = await berth(['ls', '--repo', repo.root]);
    expect(wrong.stderr).toMatch(/is not a valid berth state: agents\.x\.name: /);
    expect(expectCleanStderr(wrong.stderr)).toEqual([]);

    await execa('cp', [`${stateFile()}.bak`, stateFile()]);
    const restored = await berth(['ls', '--repo', repo.root, '--json']);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(listedAgents(restored).map((a) => a.name)).toEqual(['keep']);
  });

  it('a failing git command: git`s reason, and what to do about it', async () => {
    mkdirSync(join(repo.root, '.git', 'refs', 'heads', 'berth'), { recursive: true });
    writeFileSync(join(repo.root, '.git', 'refs', 'heads', 'berth', 'locked.lock'), '');
    const result = await berth(['provision', 'locked', '--repo', repo.root]);
    expect(result.exitCode).toBe(1);
    expect(expectCleanStderr(result.stderr)).toEqual([]);
    expect(result.stderr).toMatch(
      /failed at step "worktree": git worktree failed: fatal: .*locked\.lock.*\(hint: another git command is running in this repository, or one crashed: if none runs, remove .*locked\.lock\)/,
    );
    expect(await leftovers(repo.root, 'locked')).toEqual(NOTHING);
  });

  it('a missing docker command', async () => {
    const result = await berth(['exec', 'keep', '--repo', repo.root, '--', 'true'], {
      env: { PATH: await pathWith(['git']) },
    });
    expect(result.exitCode).toBe(3);
    expect(expectCleanStderr(result.stderr)).toEqual([]);
    expect(result.stderr).toMatch(
      /the docker command is not installed on this host \(hint: install the Docker client/,
    );
  });

  it('a missing git', async () => {
    const result = await berth(['ls', '--repo', repo.root], { env: { PATH: await pathWith([]) } });
    expect(result.exitCode).toBe(3);
    expect(expectCleanStderr(result.stderr)).toEqual([]);
    expect(result.stderr).toMatch(/git is not installed on this host \(hint: install git/);
  });

  it('a repository folder that does not exist', async () => {
    const result = await berth(['ls', '--repo', join(scratch, 'nowhere')]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/nowhere does not exist \(hint: pass --repo/);
  });

  it('a current folder removed under berth: says so, not "a bug in berth"', async () => {
    const gone = mkdtempSync(join(scratch, 'gone-'));
    // The shell removes the folder it runs in, then starts berth there.
    const result = await execa(
      'sh',
      ['-c', `cd ${gone} && rmdir ${gone} && exec "$0" "$@"`, process.execPath, BIN, 'ls'],
      {
        reject: false,
      },
    );
    expect(result.exitCode, result.stderr).toBe(2);
    expect(result.stderr).toBe(
      'berth: error: the current folder no longer exists (hint: cd to an existing folder, or pass --repo)',
    );
  });

  it('an agent whose worktree was deleted by hand: sync, exec and run say so and where its commits are', async () => {
    const made = await berth(['provision', 'wt-gone', '--repo', repo.root]);
    expect(made.exitCode, made.stderr).toBe(0);
    const worktree = resultOf(await berth(['show', 'wt-gone', '--repo', repo.root, '--json']), 'show').agent
      ?.worktree;
    rmSync(worktree ?? '', { recursive: true, force: true });
    for (const [command, ...rest] of [['sync'], ['exec', '--', 'true'], ['run', '--', 'true']]) {
      const result = await berth([command ?? '', 'wt-gone', '--repo', repo.root, ...rest]);
      expect(result.exitCode, `${command}: ${result.stderr}`).toBe(1);
      expect(result.stderr).toContain(
        `berth: error: the worktree of agent wt-gone, ${worktree}, is gone (hint: its commits are on berth/wt-gone: berth teardown wt-gone, then berth provision wt-gone --branch berth/wt-gone to go on)`,
      );
    }
    const gone = await berth(['teardown', 'wt-gone', '--repo', repo.root]);
    expect(gone.exitCode, gone.stderr).toBe(0);
    expect(await leftovers(repo.root, 'wt-gone')).toEqual(NOTHING);
  });
});
