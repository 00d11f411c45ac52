import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { shInAgent } from '../helpers/agent.js';
import { berth, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
let markers: string;

beforeAll(async () => {
  repo = await makeRepo({ files: { 'berth.yaml': 'agent:\n  resources: { cpus: 1, memory: 512m }\n' } });
  markers = mkdtempSync(join(tmpdir(), 'berth-host-hooks-'));
});

afterAll(async () => {
  await repo.cleanup();
  rmSync(markers, { recursive: true, force: true });
});

it("an agent's berth.yaml runs nothing on the host: not from its worktree, its branch, its sync or its teardown", {
  timeout: 300_000,
}, async () => {
  const marker = (what: string) => join(markers, what);
  const made = await berth(['provision', 'writer', '--repo', repo.root, '--json']);
  const writer = resultOf(made, 'provision').agent.worktree;
  // What the agent writes: a berth.yaml whose every hook would run a command on the host.
  const hostile = [
    'hooks:',
    `  setup: [{ run: "touch ${marker('setup')}", on: host }]`,
    `  migrate: [{ run: "touch ${marker('migrate')}", on: host }]`,
    `  teardown: [{ run: "touch ${marker('teardown')}", on: host }]`,
    `  post-teardown: ["touch ${marker('post-teardown')}"]`,
    '',
  ].join('\n');
  writeFileSync(join(writer, 'berth.yaml'), hostile);
  await execa('git', ['add', 'berth.yaml'], { cwd: writer });
  await execa('git', ['-c', 'user.name=a', '-c', 'user.email=a@example.com', 'commit', '-qm', 'hooks'], {
    cwd: writer,
  });

  // berth run from inside the agent's worktree: the repository's own berth.yaml decides, not the agent's.
  const inside = await berth(['provision', 'nested', '--json'], { cwd: writer });
  expect(inside.exitCode, inside.stderr).toBe(0);
  // A provision from the agent's branch: its berth.yaml is the agent's output, not config.
  const fromRef = await berth(['provision', 'from-ref', '--from', 'berth/writer', '--repo', repo.root]);
  expect(fromRef.exitCode, fromRef.stderr).toBe(0);
  const synced = await berth(['sync', 'writer'], { cwd: writer });
  expect(synced.exitCode, synced.stderr).toBe(0);
  for (const name of ['nested', 'from-ref', 'writer']) {
    const gone = await berth(['teardown', name, '--force', '--repo', repo.root]);
    expect(gone.exitCode, gone.stderr).toBe(0);
  }
  for (const what of ['setup', 'migrate', 'teardown', 'post-teardown'])
    expect(existsSync(marker(what)), `${what} ran on the host`).toBe(false);

  // The control: the same hook in the repository's own berth.yaml runs (the marker can appear).
  await repo.commitFile(
    'berth.yaml',
    `agent:\n  resources: { cpus: 1, memory: 512m }\nhooks:\n  setup: [{ run: "touch ${marker('trusted')}", on: host }]\n`,
    'a host hook of our own',
  );
  const trusted = await berth(['provision', 'trusted', '--repo', repo.root]);
  expect(trusted.exitCode, trusted.stderr).toBe(0);
  expect(existsSync(marker('trusted'))).toBe(true);
  expect((await berth(['teardown', 'trusted', '--repo', repo.root])).exitCode).toBe(0);
});

it('what an agent plants in the shared git folder runs nothing when berth runs git: hooks, fsmonitor, replace refs', {
  timeout: 300_000,
}, async () => {
  const marker = (what: string) => join(markers, `git-${what}`);
  const made = await berth(['provision', 'planter', '--repo', repo.root, '--json']);
  expect(made.exitCode, made.stderr).toBe(0);
  const worktree = resultOf(made, 'provision').agent.worktree;
  // What an agent in its container can do: the repository's git folder is mounted for its commits.
  const gitDir = join(repo.root, '.git');
  for (const hook of ['reference-transaction', 'post-checkout', 'pre-push', 'post-rewrite']) {
    writeFileSync(join(gitDir, 'hooks', hook), `#!/bin/sh\ntouch ${marker(hook)}\n`, { mode: 0o755 });
  }
  const monitor = join(markers, 'fsmonitor.sh');
  writeFileSync(monitor, `#!/bin/sh\ntouch ${marker('fsmonitor')}\n`, { mode: 0o755 });
  await execa('git', ['config', 'core.fsmonitor', monitor], { cwd: repo.root });
  // A replace ref that makes the default branch's commit read as the agent's.
  const head = (await execa('git', ['rev-parse', 'HEAD'], { cwd: repo.root })).stdout;
  writeFileSync(join(worktree, 'planted.txt'), 'the agent`s\n');
  const quiet = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false'];
  await execa('git', [...quiet, 'add', 'planted.txt'], { cwd: worktree });
  await execa(
    'git',
    [...quiet, '-c', 'user.name=a', '-c', 'user.email=a@example.com', 'commit', '-qm', 'agent'],
    {
      cwd: worktree,
    },
  );
  const agentCommit = (await execa('git', [...quiet, 'rev-parse', 'HEAD'], { cwd: worktree })).stdout;
  await execa('git', ['-c', 'core.hooksPath=/dev/null', 'replace', '-f', head, agentCommit], {
    cwd: repo.root,
  });
  try {
    // berth's git work: a worktree and branch made, a sync, a teardown that reads changes and deletes a branch.
    const other = await berth(['provision', 'after', '--repo', repo.root, '--json']);
    expect(other.exitCode, other.stderr).toBe(0);
    // The new agent's worktree holds the real commit's files, not the ones the replace ref names.
    expect(existsSync(join(resultOf(other, 'provision').agent.worktree, 'planted.txt'))).toBe(false);
    for (const name of ['after', 'planter']) {
      const gone = await berth(['teardown', name, '--force', '--repo', repo.root]);
      expect(gone.exitCode, gone.stderr).toBe(0);
    }
    for (const what of ['reference-transaction', 'post-checkout', 'pre-push', 'post-rewrite', 'fsmonitor'])
      expect(existsSync(marker(what)), `${what} ran on the host`).toBe(false);
  } finally {
    await execa('git', ['-c', 'core.hooksPath=/dev/null', 'replace', '-d', head], {
      cwd: repo.root,
      reject: false,
    });
    await execa('git', ['config', '--unset', 'core.fsmonitor'], { cwd: repo.root, reject: false });
    for (const hook of ['reference-transaction', 'post-checkout', 'pre-push', 'post-rewrite'])
      rmSync(join(gitDir, 'hooks', hook), { force: true });
  }
});

it('git config an agent writes never runs on the host: the repository config is read-only to it, its .git file redirects nothing', {
  timeout: 300_000,
}, async () => {
  const marker = (what: string) => join(markers, `config-${what}`);
  const made = await berth(['provision', 'configurer', '--repo', repo.root, '--json']);
  expect(made.exitCode, made.stderr).toBe(0);
  const worktree = resultOf(made, 'provision').agent.worktree;
  const common = join(repo.root, '.git');
  // In its container, the agent tries the repository's config: a filter driver is a command git runs.
  const driver = `sh -c "touch ${marker('common')}; cat"`;
  const set = await shInAgent(repo.root, 'configurer', `git config filter.evil.clean '${driver}'`);
  expect(set.exitCode, set.stdout).not.toBe(0);
  const append = await shInAgent(
    repo.root,
    'configurer',
    `printf '[filter "evil"]\\n\\tclean = touch ${marker('common')}\\n' >> ${common}/config`,
  );
  expect(append.exitCode).not.toBe(0);
  expect(append.stderr).toMatch(/read-only/i);
  expect(readFileSync(join(common, 'config'), 'utf8')).not.toContain('evil');
  // Nor what else git on the host runs or reads as its own: hooks (your git runs them), submodules'
  // git folders (each has a config), info/ (berth rewrites its exclude file).
  for (const line of [
    `printf '#!/bin/sh\\ntouch ${marker('hook')}\\n' > ${common}/hooks/pre-commit`,
    `mkdir -p ${common}/modules/planted`,
    `ln -sf ${marker('exclude')} ${common}/info/exclude`,
  ]) {
    const tried = await shInAgent(repo.root, 'configurer', line);
    expect(tried.exitCode, line).not.toBe(0);
    expect(tried.stderr, line).toMatch(/read-only/i);
  }
  expect(existsSync(join(common, 'hooks', 'pre-commit'))).toBe(false);
  expect(existsSync(join(common, 'modules', 'planted'))).toBe(false);
  // Its own worktree's .git file is the agent's to write: it points it at a git folder of its making.
  const planted = [
    'set -e',
    // In the shared git folder, which the agent can write (beside berth's hidden one).
    `git init -q --bare ${common}/evil.git`,
    `git config --file ${common}/evil.git/config filter.evil.clean 'sh -c "touch ${marker('redirect')}; cat"'`,
    "echo '* filter=evil' > .gitattributes",
    'echo work > work.txt',
    `printf 'gitdir: ${common}/evil.git\\n' > .git`,
  ].join('\n');
  const redirect = await shInAgent(repo.root, 'configurer', planted);
  expect(redirect.exitCode, redirect.stderr).toBe(0);
  // berth's git on the host: the teardown that saves the work, a sync. Each refuses, naming the fix.
  for (const args of [
    ['teardown', 'configurer', '--force'],
    ['sync', 'configurer'],
  ]) {
    const refused = await berth([...args, '--repo', repo.root]);
    expect(refused.exitCode, refused.stdout).not.toBe(0);
    expect(refused.stderr).toMatch(/no longer names its git folder.*git worktree repair/s);
  }
  // Repaired, the teardown saves the work with the repository's config: nothing of the agent's runs.
  await execa('git', ['worktree', 'repair', worktree], { cwd: repo.root });
  const gone = await berth(['teardown', 'configurer', '--force', '--repo', repo.root, '--json']);
  expect(gone.exitCode, gone.stderr).toBe(0);
  for (const what of ['common', 'redirect']) expect(existsSync(marker(what)), `${what} ran`).toBe(false);
  rmSync(join(common, 'evil.git'), { recursive: true, force: true });
});

it('a link an agent commits is never written through: not the env file, not a .worktreeinclude copy', {
  timeout: 300_000,
}, async () => {
  const victim = join(markers, 'victim.txt');
  writeFileSync(victim, 'the host`s own\n');
  const own = await makeRepo({
    files: {
      'berth.yaml': 'agent:\n  resources: { cpus: 1, memory: 512m }\n',
      '.gitignore': '.env.secret\n',
      '.worktreeinclude': '.env.secret\n',
    },
  });
  try {
    writeFileSync(join(own.root, '.env.secret'), 'API_KEY=hunter2\n');
    const made = await berth(['provision', 'linker', '--repo', own.root, '--json']);
    expect(made.exitCode, made.stderr).toBe(0);
    const worktree = resultOf(made, 'provision').agent.worktree;
    const commitLink = async (file: string) => {
      rmSync(join(worktree, file), { force: true });
      symlinkSync(victim, join(worktree, file));
      await execa('git', ['add', '-f', file], { cwd: worktree });
      await execa('git', ['-c', 'user.name=a', '-c', 'user.email=a@example.com', 'commit', '-qm', file], {
        cwd: worktree,
      });
    };
    await commitLink('.env.local');
    const viaEnv = await berth(['provision', 'via-env', '--from', 'berth/linker', '--repo', own.root]);
    expect(viaEnv.exitCode).toBe(2);
    expect(viaEnv.stderr).toMatch(/\.env\.local is not a plain file in the worktree/);
    await execa('git', ['rm', '-q', '--cached', '.env.local'], { cwd: worktree });
    await commitLink('.env.secret');
    const viaInclude = await berth([
      'provision',
      'via-include',
      '--from',
      'berth/linker',
      '--repo',
      own.root,
    ]);
    expect(viaInclude.exitCode).toBe(2);
    expect(viaInclude.stderr).toMatch(/\.env\.secret, named in \.worktreeinclude, is not a plain file/);
    expect(readFileSync(victim, 'utf8')).toBe('the host`s own\n');
    expect((await berth(['teardown', 'linker', '--force', '--repo', own.root])).exitCode).toBe(0);
  } finally {
    await own.cleanup();
  }
});

it('a repository that reads per-worktree git config is refused before anything is made', async () => {
  await execa('git', ['config', 'extensions.worktreeConfig', 'true'], { cwd: repo.root });
  try {
    const refused = await berth(['provision', 'perworktree', '--repo', repo.root]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/extensions\.worktreeConfig.*hint: .*git config --unset/);
    expect(existsSync(join(`${repo.root}.worktrees`, 'perworktree'))).toBe(false);
    expect((await berth(['ls', '--repo', repo.root])).stdout).not.toContain('perworktree');
  } finally {
    await execa('git', ['config', '--unset', 'extensions.worktreeConfig'], { cwd: repo.root });
  }
});

it('reads relative secret references and runs host hooks from the trusted tree, never an agent`s, nested worktrees too', {
  timeout: 400_000,
}, async () => {
  const marker = (what: string) => join(markers, what);
  const trustedFile = `trusted-file-${process.pid}`;
  const trustedCommand = `trusted-command-${process.pid}`;
  // The repository's own: relative references and a relative host script, as the README shows them.
  const own = await makeRepo({
    files: {
      'berth.yaml': [
        'agent:',
        '  resources: { cpus: 1, memory: 512m }',
        'secrets:',
        '  REL_FILE: { from: "file:.host-token" }',
        '  REL_COMMAND: { from: "command:sh ./get-token.sh" }',
        'hooks:',
        '  setup: [{ run: sh ./scripts/prepare.sh, on: host }]',
        '',
      ].join('\n'),
      'scripts/prepare.sh': `echo "trusted $BERTH_WORKTREE" > ${marker('prepare')}\n`,
    },
  });
  try {
    // Host-only files of the user's, beside the repository's own berth.yaml (not committed).
    writeFileSync(join(own.root, '.host-token'), `${trustedFile}\n`);
    writeFileSync(join(own.root, 'get-token.sh'), `echo ${trustedCommand}\n`);
    const made = await berth(['provision', 'red', '--repo', own.root, '--json']);
    expect(made.exitCode, made.stderr).toBe(0);
    const worktree = resultOf(made, 'provision').agent.worktree;
    expect(readFileSync(marker('prepare'), 'utf8')).toBe(`trusted ${worktree}\n`);

    // What the agent commits: the same paths, its own content (a host-only file of someone else's; a
    // script that would run on the host), and a nested linked worktree with a berth.yaml of its own.
    const hostOnly = join(markers, 'host-only');
    writeFileSync(hostOnly, 'host-only-value\n');
    symlinkSync(hostOnly, join(worktree, '.host-token'));
    writeFileSync(join(worktree, 'get-token.sh'), `touch ${marker('agent-command')}; echo planted\n`);
    writeFileSync(join(worktree, 'scripts', 'prepare.sh'), `echo agent > ${marker('prepare')}\n`);
    writeFileSync(join(worktree, '.gitignore'), '/nested/\n');
    await execa('git', ['add', '-A'], { cwd: worktree });
    await execa('git', ['-c', 'user.name=a', '-c', 'user.email=a@example.com', 'commit', '-qm', 'plant'], {
      cwd: worktree,
    });
    const read = async () =>
      (await shInAgent(own.root, 'red', 'cat /run/secrets/REL_FILE; echo; cat /run/secrets/REL_COMMAND'))
        .stdout;

    // berth sync from inside the agent's worktree: the trusted tree's files and script, never the agent's.
    const synced = await berth(['sync', 'red'], { cwd: worktree });
    expect(synced.exitCode, synced.stderr).toBe(0);
    expect(await read()).toBe(`${trustedFile}\n${trustedCommand}`);
    expect(readFileSync(marker('prepare'), 'utf8')).toBe(`trusted ${worktree}\n`);
    expect(existsSync(marker('agent-command'))).toBe(false);

    // A linked worktree the agent makes inside its own: no more trusted than the agent's worktree.
    await execa('git', ['worktree', 'add', '-q', '--detach', 'nested', 'HEAD'], { cwd: worktree });
    const nested = join(worktree, 'nested');
    writeFileSync(
      join(nested, 'berth.yaml'),
      [
        'secrets:',
        '  REL_FILE: { from: "file:.host-token" }',
        'hooks:',
        `  setup: [{ run: "touch ${marker('nested-hook')}", on: host }]`,
        '',
      ].join('\n'),
    );
    const fromNested = await berth(['sync', 'red'], { cwd: nested });
    expect(fromNested.exitCode, fromNested.stderr).toBe(0);
    expect(existsSync(marker('nested-hook')), 'the nested berth.yaml ran a host hook').toBe(false);
    expect(await read()).toBe(`${trustedFile}\n${trustedCommand}`);
    expect(existsSync(marker('agent-command'))).toBe(false);
    await execa('git', ['worktree', 'remove', '--force', nested], { cwd: own.root });
    const gone = await berth(['teardown', 'red', '--force', '--repo', own.root]);
    expect(gone.exitCode, gone.stderr).toBe(0);
  } finally {
    await own.cleanup();
  }
});
