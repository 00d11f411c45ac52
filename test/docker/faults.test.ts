import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { docker, TEST_LABEL, TEST_SCOPE } from '../helpers/docker.js';
import { imageFor } from '../helpers/images.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

let repo: TestRepo;
beforeAll(async () => {
  repo = await makeRepo();
});
afterAll(() => repo?.cleanup());

function config(name: string, text: string): string {
  const path = join(repo.root, '..', `${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The processes of the agent's container, by their command lines. */
async function containerProcesses(name: string): Promise<string[]> {
  const [container] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${name}`, 'com.docker.compose.service=agent'] },
  });
  if (!container) return [];
  const top = await docker().getContainer(container.Id).top({ ps_args: '-eo pid,args' });
  return ((top.Processes ?? []) as string[][]).map((row) => row.slice(1).join(' '));
}

describe('berth run stopped by a signal', () => {
  it('SIGTERM stops the command in the container, records "terminated" and applies the exit policy', async () => {
    const child = execa(
      process.execPath,
      [
        BIN,
        'run',
        'stopped',
        '--repo',
        repo.root,
        '--on-exit',
        'teardown',
        '--',
        'sh',
        '-c',
        'echo started > started.txt; sleep 300',
      ],
      {
        reject: false,
      },
    );
    await eventually(
      async () =>
        expect(await containerProcesses('stopped')).toContainEqual(expect.stringMatching(/sleep 300/)),
      60_000,
    );
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(143);
    expect(String(result.stderr)).toMatch(/stopped by a signal/);
    const shown = resultOf(await berth(['show', 'stopped', '--repo', repo.root, '--json']), 'show');
    expect(shown.task).toMatchObject({ state: 'terminated', exitCode: 143, result: 'torn-down' });
    // The file it wrote uncommitted was saved before the teardown, not lost.
    expect(readFileSync(shown.task?.savedPatch ?? '', 'utf8')).toContain('+started');
    expect(await leftovers(repo.root, 'stopped')).toEqual(NOTHING);
  });

  it('after SIGKILL the task reads as abandoned, and the command is stopped in the container by the next teardown', async () => {
    // Its docker client outlives a SIGKILLed berth (nothing can catch that signal): the test reads no pipes.
    const child = execa(process.execPath, [BIN, 'run', 'killed', '--repo', repo.root, '--', 'sleep', '300'], {
      reject: false,
      stdio: 'ignore',
    });
    await eventually(
      async () =>
        expect(await containerProcesses('killed')).toContainEqual(expect.stringMatching(/sleep 300/)),
      60_000,
    );
    child.kill('SIGKILL');
    await child;
    const listed = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(listed.find((a) => a.name === 'killed')?.task).toMatchObject({
      state: 'abandoned',
    });
    const shown = await berth(['show', 'killed', '--repo', repo.root]);
    expect(shown.stdout).toMatch(/abandoned/);
    expect((await berth(['teardown', 'killed', '--repo', repo.root])).exitCode).toBe(0);
  });
});

describe('hooks', () => {
  it('a hung setup command is stopped at its timeout, and the provision rolled back with its last output', async () => {
    const path = config(
      'hung',
      'hooks:\n  setup:\n    - run: echo still going; sleep 300\n      timeout: 2s\n',
    );
    const result = await berth(['provision', 'hung', '--repo', repo.root, '--config', path]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /failed at step "setup": setup command `echo still going; sleep 300` did not finish within 2 s: it was stopped/,
    );
    expect(result.stderr).toMatch(/berth: {3}\| still going/);
    expect(await leftovers(repo.root, 'hung')).toEqual(NOTHING);
  });

  it('a hook that prints 50 MB leaves capped, rotated logs, and berth logs streams them', async () => {
    const path = config(
      'chatty',
      'hooks:\n  setup:\n    - yes xxxxxxxxxxxxxxx | head -c 50000000; echo; echo the-end\n',
    );
    const made = await berth(['provision', 'chatty', '--repo', repo.root, '--config', path]);
    expect(made.exitCode, made.stderr).toBe(0);
    const logs = join(repo.root, '.git', 'berth', 'agents', 'chatty', 'logs');
    const sizes = readdirSync(logs)
      .filter((file) => file.startsWith('setup.log'))
      .map((file) => statSync(join(logs, file)).size);
    expect(sizes.length).toBe(2);
    expect(sizes.reduce((a, b) => a + b)).toBeLessThanOrEqual(16 * 1024 * 1024);
    const shown = await execa(
      process.execPath,
      [BIN, 'logs', 'chatty', '--repo', repo.root, '--hook', 'setup'],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    expect(shown.stdout.length).toBeLessThanOrEqual(16 * 1024 * 1024 + 100);
    expect(shown.stdout.trimEnd().endsWith('the-end')).toBe(true);
    expect((await berth(['teardown', 'chatty', '--repo', repo.root])).exitCode).toBe(0);
  });
});

describe('repositories of every shape', () => {
  it('from a linked worktree, the agent starts at that worktree`s HEAD and reads its berth.yaml', async () => {
    const linked = join(repo.root, '..', 'linked');
    await repo.git('worktree', 'add', '-q', '-b', 'feature', linked);
    writeFileSync(join(linked, 'berth.yaml'), 'hooks:\n  setup:\n    - touch from-linked-config\n');
    writeFileSync(join(linked, 'feature.txt'), 'feature\n');
    await execa('git', ['add', '-A'], { cwd: linked });
    await execa('git', ['commit', '-qm', 'feature work'], { cwd: linked });
    const result = await berth(['provision', 'from-linked', '--json'], { cwd: linked });
    expect(result.exitCode, result.stderr).toBe(0);
    const { agent } = resultOf(result, 'provision');
    expect(await repo.git('rev-parse', 'berth/from-linked')).toBe(await repo.git('rev-parse', 'feature'));
    expect(readFileSync(join(agent.worktree, 'feature.txt'), 'utf8')).toBe('feature\n');
    expect(statSync(join(agent.worktree, 'from-linked-config')).isFile()).toBe(true);
    expect((await berth(['teardown', 'from-linked', '--force'], { cwd: linked })).exitCode).toBe(0);
  });

  it('a repository whose path holds a colon and spaces works, and the compose line printed can be pasted', async () => {
    const odd = await makeRepo({ parentName: 'with:colon and space' });
    try {
      const made = await berth(['provision', 'odd', '--repo', odd.root]);
      expect(made.exitCode, made.stderr).toBe(0);
      // The whole command, to paste: `docker compose -p … -f '…'` (or docker-compose), quoted.
      const line = /^compose +(.+)$/m.exec(made.stdout)?.[1] ?? '';
      const ps = await execa('sh', ['-c', `${line} ps -q`]);
      expect(ps.stdout.trim().split('\n')).toHaveLength(3);
      const exec = await berth([
        'exec',
        'odd',
        '--repo',
        odd.root,
        '--',
        'sh',
        '-c',
        'pwd && git status --short',
      ]);
      expect(exec.exitCode, exec.stderr).toBe(0);
      expect(exec.stdout).toMatch(/with:colon and space/);
    } finally {
      await odd.cleanup();
    }
  });

  it('checks out submodules in the agent`s container, or warns when it cannot', async () => {
    const library = await makeRepo({ files: { 'lib.txt': 'library\n' } });
    const parent = await makeRepo();
    // git clones submodules from local paths only when told so (protocol.file.allow) in its environment.
    const allowFile = {
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'protocol.file.allow',
      GIT_CONFIG_VALUE_0: 'always',
    };
    try {
      // The submodule's source where the agent's container sees it (the repository's git folder is
      // mounted there), and allowed by the repository's config (which the container reads).
      const source = join(parent.root, '.git', 'lib-source.git');
      await execa('git', ['clone', '-q', '--bare', library.root, source]);
      await execa('git', ['submodule', 'add', '-q', source, 'vendor/lib'], {
        cwd: parent.root,
        env: allowFile,
      });
      await parent.git('commit', '-qm', 'add submodule');
      // The permission where the container's git reads it: the agent's own variables.
      const inContainer = join(parent.root, '..', `allow-file-${process.pid}.yaml`);
      writeFileSync(
        inContainer,
        'agent:\n  env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: protocol.file.allow, GIT_CONFIG_VALUE_0: always }\n',
      );
      const made = await berth([
        'provision',
        'with-sub',
        '--repo',
        parent.root,
        '--config',
        inContainer,
        '--json',
      ]);
      expect(made.exitCode, made.stderr).toBe(0);
      expect(made.stderr).not.toMatch(/warning/);
      const { agent } = resultOf(made, 'provision');
      expect(readFileSync(join(agent.worktree, 'vendor/lib/lib.txt'), 'utf8')).toBe('library\n');
      const inside = await berth([
        'exec',
        'with-sub',
        '--repo',
        parent.root,
        '--',
        'git',
        '-C',
        'vendor/lib',
        'status',
        '--short',
      ]);
      expect(inside.exitCode, inside.stderr).toBe(0);

      // A permission on the host only does not reach the container: the checkout there fails, and says so.
      const warned = await berth(['provision', 'sub-warn', '--repo', parent.root], { env: allowFile });
      expect(warned.exitCode, warned.stderr).toBe(0);
      expect(warned.stderr).toMatch(
        /sub-warn: warning: its submodules could not be initialised \(fatal: transport 'file' not allowed\); they are empty/,
      );

      const off = join(parent.root, '..', 'no-submodules.yaml');
      writeFileSync(off, 'worktree: { submodules: false }\n');
      const skipped = await berth(['provision', 'sub-off', '--repo', parent.root, '--config', off]);
      expect(skipped.exitCode, skipped.stderr).toBe(0);
      expect(skipped.stderr).not.toMatch(/warning/);
    } finally {
      await parent.cleanup();
      await library.cleanup();
    }
  });
});

// With an official image, berth built nothing to label: the test is skipped, and says so.
const redisImage = await imageFor('redis');
describe('images', () => {
  it.runIf(redisImage.startsWith('berth-offline/'))(
    'images berth builds carry their own label, so a container a user starts from one is not listed as berth`s',
    async () => {
      const image = redisImage;
      const info = await docker().getImage(image).inspect();
      expect(info.Config.Labels?.['dev.berth.image']).toBe('redis');
      expect(info.Config.Labels?.['dev.berth.managed']).toBeUndefined();
      const container = await docker().createContainer({
        Image: image,
        Labels: { [TEST_LABEL]: TEST_SCOPE },
      });
      try {
        const managed = await docker().listContainers({
          all: true,
          filters: { label: ['dev.berth.managed'] },
        });
        expect(managed.map((c) => c.Id)).not.toContain(container.id);
      } finally {
        // With its anonymous volume: the image declares VOLUME /data.
        await container.remove({ force: true, v: true });
      }
    },
  );
});
