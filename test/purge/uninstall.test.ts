import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { berth, errorOf, resultOf } from '../helpers/cli.js';
import { docker, removeTestResources } from '../helpers/docker.js';
import { makeRepo } from '../helpers/repo.js';

/**
 * `berth host uninstall` on this very host, as `.ci/run` runs it first: the machine goes back to fresh,
 * and this checks that nothing of berth stays. It takes the engine away, so it runs only when asked
 * (BERTH_TEST_PURGE=1), never in `npm test`. It works on a host in any state: set up by earlier runs
 * (with agents, images, a Compose plugin, the engine berth installed), left by a killed run, or fresh.
 */
const HOME = '/var/lib/berth';
const enabled = process.env.BERTH_TEST_PURGE === '1' && process.getuid?.() === 0;

async function engineAnswers(): Promise<boolean> {
  try {
    await docker().ping();
    return true;
  } catch {
    return false;
  }
}

async function installed(name: string): Promise<boolean> {
  const status = ['$', '{db:Status-Abbrev}'].join('');
  const result = await execa('dpkg-query', ['-W', '-f', status, name], { reject: false });
  return result.exitCode === 0 && result.stdout.startsWith('ii');
}

/** Everything of berth's the engine holds: labelled objects, and images by berth's labels or names. */
async function berthInEngine() {
  const client = docker();
  const managed = { label: ['dev.berth.managed=true'] };
  const fleet = { label: ['dev.berth.fleet'] };
  const [containers, networks, volumes, queue] = await Promise.all([
    client.listContainers({ all: true, filters: managed }),
    client.listNetworks({ filters: managed }),
    client.listVolumes({ filters: managed }),
    client.listContainers({ all: true, filters: fleet }),
  ]);
  const images = (await client.listImages({ all: true }))
    .filter(
      (image) =>
        Object.keys(image.Labels ?? {}).some(
          (key) => key === 'dev.berth.image' || key === 'dev.berth.managed',
        ) ||
        (image.RepoTags ?? []).some((tag) => tag.startsWith('berth-offline/') || tag.startsWith('berth/')),
    )
    .map((image) => image.RepoTags?.[0] ?? image.Id);
  return {
    containers: containers.length + queue.length,
    networks: networks.length,
    volumes: volumes.Volumes?.length ?? 0,
    images,
  };
}

describe.runIf(enabled)('berth host uninstall on this host', () => {
  // What earlier test runs left (a killed run's, of any scope): the suite's own label, so ours to remove.
  // An image a test built on berth's would otherwise keep berth's image, as it would a user's.
  beforeAll(async () => {
    if (await engineAnswers()) await removeTestResources(docker(), 'dev.berth.test');
  });

  it('refuses while an agent exists, then with --force tears it down saving its work, and leaves nothing of berth in the engine or on disk', async () => {
    if (!(await engineAnswers()) || !existsSync(HOME)) {
      // A fresh host (or one a killed run left without its engine): nothing to set up an agent with.
      const purge = await berth(['host', 'uninstall', '--force', '--json']);
      expect(purge.exitCode, purge.stderr).toBe(0);
      expect(existsSync(HOME)).toBe(false);
      return;
    }
    const repo = await makeRepo();
    const provisioned = await berth(['provision', 'purge-me', '--repo', repo.root, '--json']);
    expect(provisioned.exitCode, provisioned.stderr).toBe(0);
    const worktree = resultOf(provisioned, 'provision').agent.worktree;
    writeFileSync(join(worktree, 'unsaved.txt'), 'work not committed\n');

    for (const args of [['--dry-run'], []]) {
      const refused = await berth(['host', 'uninstall', ...args, '--json']);
      expect(refused.exitCode).toBe(1);
      const error = errorOf(refused, 'host uninstall');
      expect(error.code).toBe('agents-exist');
      expect(error.details).toContain(`agent purge-me (${repo.root})`);
    }
    expect(existsSync(join(worktree, 'unsaved.txt'))).toBe(true);

    const purge = await berth(['host', 'uninstall', '--force', '--json']);
    expect(purge.exitCode, purge.stderr).toBe(0);
    const result = resultOf(purge, 'host uninstall');
    expect(result.agents).toContainEqual(
      expect.objectContaining({ name: 'purge-me', repo: repo.root, outcome: 'torn-down' }),
    );
    const saved = join(repo.root, '.git', 'berth', 'saved');
    expect(readdirSync(saved).some((file) => file.startsWith('purge-me-'))).toBe(true);
    expect(result.images.length).toBeGreaterThan(0);
    expect(await berthInEngine()).toEqual({ containers: 0, networks: 0, volumes: 0, images: [] });
    expect(existsSync(HOME)).toBe(false);
    await repo.cleanup();
  });

  it('with --engine removes the packages and the Compose plugin berth installed, and stops the engine', async () => {
    const purge = await berth(['host', 'uninstall', '--engine', '--force', '--json']);
    expect(purge.exitCode, purge.stderr).toBe(0);
    for (const name of resultOf(purge, 'host uninstall').packages) expect(await installed(name)).toBe(false);
    // A fresh machine of this kind has none of these: here berth installed them (or has just done so).
    for (const name of ['docker.io', 'docker-compose', 'debootstrap'])
      expect(await installed(name)).toBe(false);
    expect(existsSync('/usr/local/lib/docker/cli-plugins/docker-compose')).toBe(false);
    expect(await engineAnswers()).toBe(false);
    expect(existsSync(HOME)).toBe(false);
  });

  it('on a host that is fresh now, does nothing and says so', async () => {
    const again = await berth(['host', 'uninstall', '--engine', '--force']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/nothing of berth is on this host/);
  });
});
