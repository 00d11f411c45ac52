import { describe, expect, it } from 'vitest';
import { DEFAULT_IMAGES, EGRESS_IMAGE, IMAGE_ROLES, offlineImage } from '../../src/plan/images.js';
import { berth, errorOf, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { mayRestartEngine, stopDockerd } from '../helpers/engine.js';
import { asOtherUser } from '../helpers/other-user.js';

describe('berth host init', () => {
  it('on a ready host changes nothing and reports every check as found', async () => {
    const first = await berth(['host', 'init', '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    const second = await berth(['host', 'init', '--json']);
    expect(second.exitCode, second.stderr).toBe(0);
    const result = resultOf(second, 'host init');
    expect(result).toMatchObject({ unchanged: true, engine: { outcome: 'found' } });
    expect(['v1', 'v2']).toContain(result.compose.variant);
    expect(result.images.map((image: { role: string }) => image.role)).toEqual([
      ...IMAGE_ROLES,
      'postgres-fast',
      'egress',
    ]);
    for (const image of result.images) {
      expect(image.outcome).toBe('found');
      if (image.role === 'postgres-fast') expect(image.image).toMatch(/^berth\/postgres-fast:/);
      else if (image.role === 'egress') expect(image.image).toBe(EGRESS_IMAGE);
      else
        expect([
          DEFAULT_IMAGES[image.role as keyof typeof DEFAULT_IMAGES],
          offlineImage(image.role),
        ]).toContain(image.image);
      expect(await docker().getImage(image.image).inspect()).toBeTruthy();
    }
  });

  it('prints one line per check', async () => {
    const { stdout, exitCode } = await berth(['host', 'init']);
    expect(exitCode).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.map((line) => line.split(/\s+/)[0])).toEqual([
      'engine',
      'compose',
      'image',
      'image',
      'image',
      'image',
      'image',
      'host',
    ]);
  });

  it('fails with one clear line and a non-zero exit when DOCKER_HOST points nowhere', async () => {
    const { exitCode, stdout, stderr } = await berth(['host', 'init'], {
      env: { DOCKER_HOST: 'unix:///nonexistent.sock' },
    });
    expect(exitCode).toBe(3);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      'berth: error: no Docker engine socket at unix:///nonexistent.sock (hint: start the engine there, or unset DOCKER_HOST to use the default socket)',
    ]);
  });

  it('says so in JSON when --json is given and the engine is unreachable', async () => {
    const run = await berth(['host', 'init', '--json'], { env: { DOCKER_HOST: 'unix:///nonexistent.sock' } });
    expect(run.exitCode).toBe(3);
    expect(errorOf(run, 'host init').code).toBe('engine-unreachable');
  });

  it.runIf(process.getuid?.() === 0)(
    'fails with one clear line for a user the socket does not permit',
    async () => {
      const user = await asOtherUser('nodocker', []);
      try {
        const result = await user.run(['host', 'init']);
        expect(result.exitCode).toBe(3);
        expect(String(result.stderr).trim().split('\n')).toEqual([
          'berth: error: permission denied on the Docker socket unix:///var/run/docker.sock (hint: add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root)',
        ]);
      } finally {
        await user.cleanup();
      }
    },
  );

  it.runIf(mayRestartEngine)('starts the engine when it is stopped', async () => {
    expect(await stopDockerd()).toBe(true);

    const run = await berth(['host', 'init', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(resultOf(run, 'host init').engine.outcome).toBe('started');
    expect(await docker().ping()).toBeTruthy();
  });
});
