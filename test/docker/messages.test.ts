import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../src/state/store.js';
import { berth, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

// The agent alone (no Postgres, no Redis, no hooks): what these tests read is what berth says.
const LIGHT = 'postgres: { enabled: false }\nredis: { enabled: false }\n';

let repo: TestRepo;
const recordOf = (name: string) => readState(join(repo.root, '.git', 'berth')).agents[name];

beforeAll(async () => {
  // A folder with a space in its path: the compose line must be quoted to paste.
  repo = await makeRepo({ files: { 'berth.yaml': LIGHT }, parentName: 'two words' });
});

afterAll(async () => {
  await repo?.cleanup();
});

describe('what berth says is what is', () => {
  it('provision prints a compose line that works when pasted into a shell', async () => {
    const made = await berth(['provision', 'said', '--repo', repo.root]);
    expect(made.exitCode, made.stderr).toBe(0);
    const line = /^compose {3}(.+)$/m.exec(made.stdout)?.[1] ?? '';
    expect(line).toMatch(/^docker compose -p /);
    expect(line).toContain("'"); // the path with a space, quoted
    const ps = await execa('sh', ['-c', `${line} ps --format '{{.Service}}'`], { reject: false });
    expect(ps.exitCode, String(ps.stderr)).toBe(0);
    expect(String(ps.stdout).split('\n')).toContain('agent');
  });

  it('npm in an agent warns of nothing berth set (no Unknown env config "store-dir")', async () => {
    const npm = await berth(['exec', 'said', '--repo', repo.root, '--', 'npm', 'config', 'get', 'cache']);
    expect(npm.exitCode, npm.stderr).toBe(0);
    expect(npm.stderr).not.toContain('Unknown env config');
    expect(npm.stdout.trim()).toBe('/var/cache/berth-packages/npm');
  });

  it('berth logs NAME with no hook logs says so, exit 0', async () => {
    const logs = await berth(['logs', 'said', '--repo', repo.root]);
    expect(logs.exitCode, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^said: no hook logs: no hook has run/);
  });

  it('complete and show say the task was completed', async () => {
    const completed = await berth(['complete', 'said', '--repo', repo.root]);
    expect(completed.exitCode, completed.stderr).toBe(0);
    expect(completed.stdout).toMatch(/^said: completed; 0 commit\(s\) on berth\/said/m);
    const shown = await berth(['show', 'said', '--repo', repo.root]);
    expect(shown.stdout).toMatch(/said: completed;/);
    // After a run, the run is told too, and that the task was completed after it.
    const ran = await berth(['run', 'said', '--repo', repo.root, '--', 'sh', '-c', 'exit 3']);
    expect(ran.exitCode).toBe(3);
    const again = await berth(['complete', 'said', '--repo', repo.root]);
    expect(again.stdout).toMatch(/^said: completed; its last run exited with 3 after \d+\.\d s;/m);
  });

  it('sync rebases onto the base as the repository has it, and says what its upstream has beyond it', async () => {
    const parent = dirname(repo.root);
    const remote = join(parent, 'remote.git');
    await execa('git', ['init', '-q', '--bare', '-b', 'main', remote]);
    await repo.git('remote', 'add', 'origin', remote);
    await repo.git('push', '-q', '-u', 'origin', 'main');
    const made = await berth(['provision', 'syncer', '--repo', repo.root]);
    expect(made.exitCode, made.stderr).toBe(0);
    expect(recordOf('syncer')?.baseRef).toBe('main');
    // A commit on the local base, not pushed; and one on the upstream the local base lacks.
    await repo.commitFile('local.txt', 'mine\n', 'A local commit on main');
    const other = mkdtempSync(join(tmpdir(), 'berth-upstream-'));
    try {
      await execa('git', ['clone', '-q', remote, other]);
      writeFileSync(join(other, 'upstream.txt'), 'theirs\n');
      await execa('git', ['-C', other, 'add', 'upstream.txt']);
      await execa('git', [
        '-C',
        other,
        '-c',
        'user.name=U',
        '-c',
        'user.email=u@example.com',
        'commit',
        '-qm',
        'Upstream',
      ]);
      await execa('git', ['-C', other, 'push', '-q', 'origin', 'main']);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    const synced = await berth(['sync', 'syncer', '--repo', repo.root, '--json']);
    expect(synced.exitCode, synced.stderr).toBe(0);
    const result = resultOf(synced, 'sync');
    expect(result).toMatchObject({
      onto: 'main',
      fetched: true,
      upstream: { ref: 'origin/main', behind: 1 },
    });
    expect(synced.stderr).toContain('main lacks 1 commit(s) of its upstream origin/main');
    const worktree = recordOf('syncer')?.worktree ?? '';
    expect(existsSync(join(worktree, 'local.txt'))).toBe(true);
    expect(existsSync(join(worktree, 'upstream.txt'))).toBe(false);
    // Once the base is pulled, sync takes it and says nothing more.
    await repo.git('pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    const after = await berth(['sync', 'syncer', '--repo', repo.root, '--json']);
    expect(resultOf(after, 'sync').upstream).toBeUndefined();
    expect(existsSync(join(worktree, 'upstream.txt'))).toBe(true);
  });
});
