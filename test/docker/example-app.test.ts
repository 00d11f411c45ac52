import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { hostCaBundle, resolveImage } from '../../src/core/images.js';
import { DEFAULT_IMAGES } from '../../src/plan/images.js';
import { dockerExec, startContainer } from '../helpers/containers.js';
import { docker, removeTestResources, TEST_LABEL } from '../helpers/docker.js';

const client = docker();
const appDir = mkdtempSync(join(tmpdir(), 'berth-notes-app-'));

afterAll(async () => {
  await removeTestResources(client);
  rmSync(appDir, { recursive: true, force: true });
});

it('the example app migrates and passes its own tests in the agent image, against Postgres and Redis by name', async () => {
  const [postgres, redis, agent] = await Promise.all(
    (['postgres', 'redis', 'agent'] as const).map(async (role) => {
      const image = await resolveImage(client, role, DEFAULT_IMAGES[role]);
      if (!image) throw new Error(`no ${role} image: run berth host init`);
      return image;
    }),
  );
  const network = await client.createNetwork({
    Name: `berth-test-example-${process.pid}`,
    Labels: { [TEST_LABEL]: 'true' },
  });
  const networkName = `berth-test-example-${process.pid}`;
  expect(network.id).toBeTruthy();
  await startContainer(client, {
    image: postgres as string,
    env: { POSTGRES_USER: 'notes', POSTGRES_PASSWORD: 'notes-pw', POSTGRES_DB: 'notes' },
    network: networkName,
    alias: 'postgres',
  });
  await startContainer(client, { image: redis as string, network: networkName, alias: 'redis' });

  cpSync('examples/notes-app', appDir, { recursive: true, filter: (path) => !path.includes('node_modules') });
  const ca = hostCaBundle();
  const { id } = await startContainer(client, {
    image: agent as string,
    cmd: ['sleep', 'infinity'],
    network: networkName,
    workingDir: appDir,
    binds: [`${appDir}:${appDir}`, ...(ca ? [`${ca}:/etc/berth/host-ca.crt:ro`] : [])],
    env: {
      DATABASE_URL: 'postgres://notes:notes-pw@postgres:5432/notes',
      REDIS_URL: 'redis://redis:6379',
      ...(ca
        ? { NODE_EXTRA_CA_CERTS: '/etc/berth/host-ca.crt', SSL_CERT_FILE: '/etc/berth/host-ca.crt' }
        : {}),
    },
  });

  const install = await dockerExec(id, ['npm', 'ci', '--no-audit', '--no-fund']);
  expect(install.exitCode, install.stderr).toBe(0);
  const script = 'for i in $(seq 1 50); do npm run -s migrate && exit 0; sleep 0.2; done; exit 1';
  const migrate = await dockerExec(id, ['sh', '-c', script]);
  expect(migrate.exitCode, migrate.stderr).toBe(0);
  expect(migrate.stdout).toMatch(/applied: 001_create_notes, 002_index_notes_created_at/);
  const tests = await dockerExec(id, ['npm', 'test']);
  expect(tests.exitCode, tests.stdout + tests.stderr).toBe(0);
  expect(tests.stdout).toMatch(/pass 4\b/);
});
