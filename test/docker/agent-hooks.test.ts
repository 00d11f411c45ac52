import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
const hook = (event: string, input: Record<string, unknown>) =>
  execa(process.execPath, [BIN, 'agent-hooks', 'claude', event], {
    input: JSON.stringify(input),
    reject: false,
  });

beforeAll(async () => {
  repo = await makeRepo({
    files: {
      '.gitignore': '.env\ncerts/\nsecret.key\n',
      '.worktreeinclude': '.env\ncerts/\n',
    },
  });
  writeFileSync(join(repo.root, '.env'), 'API_KEY=abc\n', { mode: 0o600 });
  mkdirSync(join(repo.root, 'certs'));
  writeFileSync(join(repo.root, 'certs', 'local.pem'), 'PEM\n', { mode: 0o644 });
  writeFileSync(join(repo.root, 'secret.key'), 'not named in .worktreeinclude\n');
  writeFileSync(join(repo.root, 'notes.txt'), 'untracked, not ignored\n');
});
afterAll(() => repo.cleanup());

describe('agent-hooks install claude', () => {
  it('merges into existing settings, prints the change on a dry run, and is idempotent', async () => {
    const file = join(repo.root, '.claude', 'settings.json');
    mkdirSync(join(repo.root, '.claude'));
    const mine = {
      permissions: { allow: ['Bash(npm test)'] },
      hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'echo mine' }] }] },
    };
    writeFileSync(file, `${JSON.stringify(mine, null, 2)}\n`);
    const dry = await berth(['agent-hooks', 'install', 'claude', '--dry-run', '--repo', repo.root]);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('+ ');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(mine);
    const done = resultOf(
      await berth(['agent-hooks', 'install', 'claude', '--repo', repo.root, '--json']),
      'agent-hooks install',
    );
    expect(done.changed).toBe(true);
    const settings = JSON.parse(readFileSync(file, 'utf8'));
    expect(settings.permissions).toEqual(mine.permissions);
    expect(settings.hooks.PreToolUse).toEqual(mine.hooks.PreToolUse);
    for (const event of ['WorktreeCreate', 'WorktreeRemove', 'SessionEnd'])
      expect(settings.hooks[event][0].hooks[0].command).toContain('agent-hooks claude');
    const again = resultOf(
      await berth(['agent-hooks', 'install', 'claude', '--repo', repo.root, '--json']),
      'agent-hooks install',
    );
    expect(again.changed).toBe(false);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(settings);
  });
});

describe('the Claude Code hooks, run as Claude Code runs them', () => {
  it('WorktreeCreate gives a berth environment and prints its path; SessionEnd completes; WorktreeRemove removes', async () => {
    const created = await hook('worktree-create', {
      hook_event_name: 'WorktreeCreate',
      cwd: repo.root,
      name: 'Fix Login',
    });
    expect(created.exitCode, created.stderr).toBe(0);
    const path = created.stdout.trim();
    expect(path.split('\n')).toHaveLength(1);
    const agents = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(agents.map((a) => [a.name, a.worktree])).toEqual([['fix-login', path]]);
    // .worktreeinclude: the ignored files it names are there, modes kept; nothing else; git sees nothing new.
    expect(statSync(join(path, '.env')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(path, 'certs', 'local.pem'), 'utf8')).toBe('PEM\n');
    expect(() => statSync(join(path, 'secret.key'))).toThrow();
    expect(() => statSync(join(path, 'notes.txt'))).toThrow();
    expect((await execa('git', ['status', '--porcelain'], { cwd: path })).stdout).toBe('');

    const ended = await hook('session-end', { hook_event_name: 'SessionEnd', cwd: path, reason: 'exit' });
    expect(ended.exitCode, ended.stderr).toBe(0);
    const shown = resultOf(await berth(['show', 'fix-login', '--repo', repo.root, '--json']), 'show');
    expect(shown.task?.completedAt).toBeTruthy();

    writeFileSync(join(path, 'draft.txt'), 'work in progress\n');
    const removed = await hook('worktree-remove', {
      hook_event_name: 'WorktreeRemove',
      cwd: repo.root,
      worktree_path: path,
    });
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(listedAgents(await berth(['ls', '--repo', repo.root, '--json']))).toEqual([]);
    expect(removed.stderr).toMatch(/saved to .+\.patch/);
  });

  it('refuses input that is not JSON in one line', async () => {
    const bad = await execa(process.execPath, [BIN, 'agent-hooks', 'claude', 'worktree-create'], {
      input: 'nope',
      reject: false,
    });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^berth: error: the hook input on stdin is not JSON \(hint: .+\)$/);
  });

  it('WorktreeCreate as documented (worktree_name, source_ref) starts the agent`s branch at that ref', async () => {
    await repo.git('checkout', '-qb', 'feature');
    await repo.commitFile('feature.txt', 'on the feature branch\n', 'A feature commit');
    const tip = await repo.git('rev-parse', 'HEAD');
    await repo.git('checkout', '-q', 'main');
    const created = await hook('worktree-create', {
      hook_event_name: 'WorktreeCreate',
      cwd: repo.root,
      worktree_name: 'from-feature',
      source_ref: 'feature',
      base_path: join(repo.root, '.claude', 'worktrees'),
    });
    expect(created.exitCode, created.stderr).toBe(0);
    const path = created.stdout.trim();
    expect((await execa('git', ['-C', path, 'rev-parse', 'HEAD~0'])).stdout).toBe(tip);
    expect((await execa('git', ['-C', path, 'branch', '--show-current'])).stdout).toBe('berth/from-feature');
    const removed = await hook('worktree-remove', {
      hook_event_name: 'WorktreeRemove',
      cwd: repo.root,
      worktree_path: path,
    });
    expect(removed.exitCode, removed.stderr).toBe(0);
  });
});
