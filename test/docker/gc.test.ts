import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeat } from '../../src/core/agent/heartbeat.js';
import { gc as gcLibrary } from '../../src/core/gc.js';
import { repoId } from '../../src/plan/names.js';
import { readState } from '../../src/state/store.js';
import { shInAgent } from '../helpers/agent.js';
import { berth, ownGcActions, resultOf } from '../helpers/cli.js';
import { docker, TEST_LABEL, TEST_SCOPE } from '../helpers/docker.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

async function provision(name: string, ...args: string[]) {
  const result = await berth(['provision', name, '--repo', repo.root, '--json', ...args]);
  expect(result.exitCode, result.stderr).toBe(0);
  return resultOf(result, 'provision').agent;
}

async function gc(...args: string[]) {
  const result = await berth(['gc', '--repo', repo.root, '--json', ...args]);
  expect(result.exitCode, result.stderr).toBe(0);
  const { dryRun, actions } = resultOf(result, 'gc');
  return { dryRun, actions: ownGcActions(actions, repo.root) } as unknown as {
    dryRun: boolean;
    actions: Array<Record<string, string>>;
  };
}

/** gc as the library runs it, at a moment the test chooses: leases are judged by that clock. */
async function gcAt(now: number, dryRun = false) {
  const result = await gcLibrary({ repo: repo.root, dryRun, runtime: { now: () => now } });
  // Host leases are the whole host's: a later clock may also release what other repositories left.
  const actions = ownGcActions(result.actions, repo.root);
  return { dryRun: result.dryRun, actions } as unknown as {
    dryRun: boolean;
    actions: Array<Record<string, string>>;
  };
}

const MINUTE = 60_000;

describe('leases', () => {
  it('heartbeat renews the expiry from the moment it beats, and ls shows when it expires', async () => {
    const agent = await provision('beat');
    const later = Date.parse(agent.expiry.expiresAt) + 5 * MINUTE;
    const beat = await heartbeat({ name: 'beat', repo: repo.root, runtime: { now: () => later } });
    expect(beat.expiresAt).toBe(new Date(later + 30 * MINUTE).toISOString());
    expect((await gcAt(later + 29 * MINUTE)).actions).toEqual([]);
    expect((await gcAt(later + 31 * MINUTE, true)).actions.map((a) => a.target)).toEqual(['beat']);
    await berth(['heartbeat', 'beat', '--repo', repo.root]);
    expect((await berth(['ls', '--repo', repo.root])).stdout).toMatch(/^beat .* expires in (29|30)m /m);
    expect((await berth(['heartbeat', 'nobody', '--repo', repo.root])).exitCode).toBe(2);
    expect((await berth(['teardown', 'beat', '--repo', repo.root])).exitCode).toBe(0);
  });

  it('gc reaps an expired agent but saves its uncommitted work as a patch and keeps its unmerged branch', async () => {
    const agent = await provision('expired');
    writeFileSync(join(agent.worktree, 'committed.txt'), 'done\n');
    await shInAgent(repo.root, 'expired', 'git add committed.txt && git commit -qm done');
    writeFileSync(join(agent.worktree, 'unsaved.txt'), 'in progress\n');
    writeFileSync(join(agent.worktree, 'package.json'), '{"changed": true}\n');

    // The exec renewed the expiry (a running command does): its expiry is read after it, however long it took.
    const shown = resultOf(await berth(['show', 'expired', '--repo', repo.root, '--json']), 'show');
    const expiry = Date.parse(shown.agent?.expiry.expiresAt ?? '');
    expect((await gcAt(expiry - 1000, true)).actions).toEqual([]);
    const dry = await gcAt(expiry + 1000, true);
    expect(dry.actions).toEqual([expect.objectContaining({ kind: 'agent', target: 'expired' })]);
    expect(existsSync(agent.worktree)).toBe(true);

    const { actions } = await gcAt(expiry + 1000);
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ kind: 'agent', target: 'expired', keptBranch: 'berth/expired' });
    expect(actions[0]?.reason).toMatch(/it expired 1s ago/);
    const patch = readFileSync(actions[0]?.savedPatch ?? '', 'utf8');
    expect(patch).toContain('+in progress');
    expect(patch).toContain('+{"changed": true}');
    expect(await leftovers(repo.root, 'expired')).toEqual({ ...NOTHING, branches: 1 });
    expect(await repo.git('log', '-1', '--format=%s', 'berth/expired')).toBe('done');
    // The patch applies to the kept branch: nothing was lost.
    await repo.git('worktree', 'add', '-q', join(repo.root, '..', 'check'), 'berth/expired');
    await repo.git('-C', join(repo.root, '..', 'check'), 'apply', actions[0]?.savedPatch ?? '');
    expect(readFileSync(join(repo.root, '..', 'check', 'unsaved.txt'), 'utf8')).toBe('in progress\n');
    await repo.git('worktree', 'remove', '--force', join(repo.root, '..', 'check'));
  });

  it('saves a repository the agent made inside its worktree whole, and a file it hid from git status', async () => {
    await provision('nested');
    // A scaffolder's `git init` (with a commit and more work), one with no commit yet, and a tracked file
    // hidden with skip-worktree: before, the patch held a commit id only, gc failed on the second, and
    // teardown saw nothing to save.
    await shInAgent(
      repo.root,
      'nested',
      [
        'mkdir app && cd app && git init -q && echo work > index.js && git add . &&',
        'git -c user.name=a -c user.email=a@b.invalid commit -qm scaffold && echo more >> index.js && cd .. &&',
        'mkdir -p fresh/lib && cd fresh/lib && git init -q && echo x > x.js && cd ../.. &&',
        'echo hidden >> package.json && git update-index --skip-worktree package.json && echo plain > plain.txt',
      ].join(' '),
    );
    const refused = await berth(['teardown', 'nested', '--repo', repo.root]);
    expect(refused.exitCode).toBe(1);
    // The hidden file counts: four changes (app/, fresh/, plain.txt, package.json).
    expect(refused.stderr).toMatch(/has 4 uncommitted change\(s\)/);
    const torn = resultOf(
      await berth(['teardown', 'nested', '--repo', repo.root, '--force', '--json']),
      'teardown',
    );
    const patch = readFileSync(torn.savedPatch ?? '', 'utf8');
    const archive = torn.savedPatch?.replace(/\.patch$/, '.repositories.tar') ?? '';
    expect(patch).toContain(`# berth: app, fresh/lib are git repositories of their own, not in this patch:`);
    expect(patch).toContain(archive);
    expect(patch).toContain('+hidden');
    expect(patch).toContain('+plain');
    expect(patch).not.toMatch(/Subproject commit|160000/);
    // The patch applies to the branch, and the archive holds both repositories, history and all.
    const check = join(repo.root, '..', 'check-nested');
    // Its branch had no commits of its own and is gone: the patch applies to where it started.
    await repo.git('worktree', 'add', '-q', '--detach', check, 'HEAD');
    await repo.git('-C', check, 'apply', torn.savedPatch ?? '');
    expect(readFileSync(join(check, 'plain.txt'), 'utf8')).toBe('plain\n');
    await execa('tar', ['-xf', archive, '-C', check]);
    expect(readFileSync(join(check, 'app', 'index.js'), 'utf8')).toBe('work\nmore\n');
    expect(readFileSync(join(check, 'fresh', 'lib', 'x.js'), 'utf8')).toBe('x\n');
    const log = await execa('git', ['-C', join(check, 'app'), 'log', '--format=%s']);
    expect(log.stdout).toBe('scaffold');
    await repo.git('worktree', 'remove', '--force', check);
  });

  it('berth exec renews the expiry while its command runs', async () => {
    const agent = await provision('busy', '--config', shortLease());
    const running = berth(['exec', 'busy', '--repo', repo.root, '--', 'sleep', '3']);
    // The expiry moves forward while the command runs (renewed every third of its 2 s time-to-live).
    const expiry = () =>
      Date.parse(readState(join(repo.root, '.git', 'berth')).agents.busy?.expiry.expiresAt ?? '');
    await eventually(async () => expect(expiry()).toBeGreaterThan(Date.parse(agent.expiry.expiresAt) + 1000));
    expect((await running).exitCode).toBe(0);
    expect((await gcAt(expiry() - 1000)).actions).toEqual([]);
    expect((await gcAt(expiry() + 1000)).actions.map((a) => a.target)).toEqual(['busy']);
  });
});

function shortLease(): string {
  const path = join(repo.root, '..', 'short-ttl.yaml');
  writeFileSync(path, 'ttl: 2s\n');
  return path;
}

describe('gc of finished work', () => {
  it('reaps an agent whose branch was squash-merged with gc --merged (not yet expired, plain gc keeps it), and deletes the branch', async () => {
    const agent = await provision('squashed');
    writeFileSync(join(agent.worktree, 'feature.txt'), 'feature\n');
    await shInAgent(
      repo.root,
      'squashed',
      'git add -A && git commit -qm one && echo more >> feature.txt && git commit -qam two',
    );
    expect((await gc('--merged')).actions).toEqual([]);
    await repo.git('merge', '--squash', 'berth/squashed');
    await repo.git('commit', '-qm', 'squash of squashed');
    expect((await gc()).actions).toEqual([]);
    const { actions } = await gc('--merged');
    expect(actions).toEqual([
      expect.objectContaining({
        kind: 'agent',
        target: 'squashed',
        reason: 'its branch berth/squashed is merged into main',
      }),
    ]);
    expect(await leftovers(repo.root, 'squashed')).toEqual(NOTHING);
  });

  it('reaps an agent whose commits were rebased onto its base', async () => {
    const agent = await provision('rebased');
    writeFileSync(join(agent.worktree, 'rebased.txt'), 'rebased\n');
    await shInAgent(repo.root, 'rebased', 'git add -A && git commit -qm rebased-work');
    await repo.commitFile('unrelated.txt', 'main moved on\n', 'main moves');
    await repo.git('cherry-pick', 'berth/rebased');
    const { actions } = await gc('--merged');
    expect(actions.map((a) => a.target)).toEqual(['rebased']);
    expect(await leftovers(repo.root, 'rebased')).toEqual(NOTHING);
  });
});

describe('"merged" is one answer, for teardown, the exit policy and gc --merged', () => {
  it('keeps a branch whose only commit is empty: its commit is work the base does not have', async () => {
    await provision('empty-commit');
    await shInAgent(repo.root, 'empty-commit', 'git commit -q --allow-empty -m "a note, no change"');
    const down = resultOf(
      await berth(['teardown', 'empty-commit', '--repo', repo.root, '--json']),
      'teardown',
    );
    expect(down.branchOutcome).toBe('kept-unmerged');
    expect(await repo.git('log', '-1', '--format=%s', 'berth/empty-commit')).toBe('a note, no change');
  });

  it('keeps an agent with no commits under teardown-if-merged, as gc --merged leaves it: nothing of it is merged', async () => {
    await provision('idle');
    expect((await gc('--merged')).actions).toEqual([]);
    const ran = await berth([
      'complete',
      'idle',
      '--repo',
      repo.root,
      '--on-exit',
      'teardown-if-merged',
      '--json',
    ]);
    expect(resultOf(ran, 'complete').task).toMatchObject({
      result: 'kept-unmerged',
      message: 'berth/idle has no commits of its own: nothing is merged: kept',
    });
    expect((await berth(['teardown', 'idle', '--repo', repo.root])).exitCode).toBe(0);
  });

  it('settles a branch kept for unmerged work once it is merged: gc --merged deletes it', async () => {
    const agent = await provision('kept-then-merged');
    writeFileSync(join(agent.worktree, 'later.txt'), 'merged later\n');
    await shInAgent(repo.root, 'kept-then-merged', 'git add -A && git commit -qm later');
    const down = resultOf(
      await berth(['teardown', 'kept-then-merged', '--repo', repo.root, '--json']),
      'teardown',
    );
    expect(down.branchOutcome).toBe('kept-unmerged');
    expect((await gc('--merged')).actions).toEqual([]);
    await repo.git('merge', '--squash', 'berth/kept-then-merged');
    await repo.git('commit', '-qm', 'squash of kept-then-merged');
    expect((await gc()).actions).toEqual([]);
    expect((await gc('--merged')).actions).toEqual([
      expect.objectContaining({
        kind: 'branch',
        target: 'berth/kept-then-merged',
        reason: 'kept for its unmerged work when agent kept-then-merged went; merged into main since',
      }),
    ]);
    expect(await repo.git('branch', '--list', 'berth/kept-then-merged')).toBe('');
  });
});

describe('gc of orphans', () => {
  it("removes labelled resources no agent claims, and never touches what isn't berth's", async () => {
    const client = docker();
    const id = repoId(join(repo.root, '.git'));
    const labels = {
      'dev.berth.managed': 'true',
      'dev.berth.agent': 'ghost',
      'dev.berth.repo': id,
      [TEST_LABEL]: TEST_SCOPE,
    };
    await client.createVolume({ Name: `berth-test-ghost-${process.pid}`, Labels: labels });
    await client.createNetwork({ Name: `berth-test-ghost-${process.pid}`, Labels: labels });
    const image = (
      await client.listImages({ filters: { reference: ['berth-offline/redis:bookworm', 'redis:7'] } })
    )[0];
    await client.createContainer({ Image: image?.RepoTags?.[0] ?? 'redis:7', Labels: labels });
    const foreign = `not-berth-${process.pid}`;
    await client.createVolume({ Name: foreign, Labels: { [TEST_LABEL]: TEST_SCOPE } });

    const { actions } = await gc();
    expect(actions).toEqual([expect.objectContaining({ kind: 'containers', target: 'ghost' })]);
    expect(await leftovers(repo.root, 'ghost')).toEqual(NOTHING);
    expect(await client.getVolume(foreign).inspect()).toBeTruthy();
    await client.getVolume(foreign).remove();
  });

  it("removes worktrees berth locked for vanished agents and leftover folders, and leaves the user's own", async () => {
    const folder = `${repo.root}.worktrees`;
    await repo.git('worktree', 'add', '-q', '-b', 'berth/ghost-tree', join(folder, 'ghost-tree'));
    await repo.git('worktree', 'lock', '--reason', 'berth agent ghost-tree', join(folder, 'ghost-tree'));
    await repo.git('worktree', 'add', '-q', '-b', 'berth/gone', join(folder, 'gone'));
    await repo.git('worktree', 'lock', '--reason', 'berth agent gone', join(folder, 'gone'));
    rmSync(join(folder, 'gone'), { recursive: true });
    mkdirSync(join(folder, 'half-made'), { recursive: true });
    const mine = join(repo.root, '..', 'my-own-worktree');
    await repo.git('worktree', 'add', '-q', '-b', 'mine', mine);
    mkdirSync(join(folder, 'Notes'));

    const { actions } = await gc();
    expect(actions.map((a) => `${a.kind} ${a.target?.replace(`${folder}/`, '')}`).sort()).toEqual([
      'folder half-made',
      'worktree ghost-tree',
      'worktree gone',
    ]);
    const listed = await repo.git('worktree', 'list', '--porcelain');
    expect(listed).not.toMatch(/ghost-tree|\/gone/);
    expect(listed).toContain(mine);
    expect(existsSync(join(folder, 'Notes'))).toBe(true);
    // Branches berth did not record as its own stay, even under its prefix.
    expect(await repo.git('branch', '--list', 'berth/ghost-tree')).toContain('berth/ghost-tree');
  });
});
