import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveImage } from '../../src/core/images.js';
import { DEFAULT_IMAGES } from '../../src/plan/images.js';
import { dockerExec, startContainer } from '../helpers/containers.js';
import { docker, removeTestResources } from '../helpers/docker.js';
import { eventually } from '../helpers/wait.js';

const client = docker();

async function imageFor(role: keyof typeof DEFAULT_IMAGES): Promise<string> {
  const image = await resolveImage(client, role, DEFAULT_IMAGES[role]);
  if (!image) throw new Error(`no ${role} image: run berth host init`);
  return image;
}

afterAll(() => removeTestResources(client));

describe('the postgres image berth runs', () => {
  let port: number;
  let id: string;
  const password = 'pa ss"word';

  beforeAll(async () => {
    const started = await startContainer(client, {
      image: await imageFor('postgres'),
      env: { POSTGRES_USER: 'agent', POSTGRES_PASSWORD: password, POSTGRES_DB: 'work-db' },
      publish: 5432,
    });
    port = started.hostPort ?? 0;
    id = started.id;
  });

  it('creates the user and database from POSTGRES_* and answers pg_isready', async () => {
    await eventually(async () => {
      const ready = await dockerExec(id, ['pg_isready', '-U', 'agent', '-d', 'work-db']);
      if (ready.exitCode !== 0) throw new Error(ready.stdout);
    });
    const connection = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'agent',
      password,
      database: 'work-db',
    });
    await eventually(() => connection.connect());
    const { rows } = await connection.query('SELECT current_user AS who, current_database() AS db');
    await connection.end();
    expect(rows[0]).toEqual({ who: 'agent', db: 'work-db' });
  });

  it('keeps its data in a volume at PGDATA', async () => {
    const info = await client.getContainer(id).inspect();
    const mount = info.Mounts.find((m) => m.Destination === '/var/lib/postgresql/data');
    expect(mount?.Type).toBe('volume');
  });

  it('refuses a wrong password from the network', async () => {
    const connection = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'agent',
      password: 'wrong',
      database: 'work-db',
    });
    await expect(connection.connect()).rejects.toThrow(/password authentication failed/);
  });
});

describe('the redis image berth runs', () => {
  it('listens on 6379 and requires the password given with --requirepass', async () => {
    const { hostPort } = await startContainer(client, {
      image: await imageFor('redis'),
      cmd: ['redis-server', '--requirepass', 'r3dis'],
      publish: 6379,
    });
    const url = `redis://127.0.0.1:${hostPort}`;
    const anonymous = createClient({ url });
    anonymous.on('error', () => {});
    await eventually(() => anonymous.connect().then(() => undefined));
    await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    await anonymous.quit();

    const authed = createClient({ url, password: 'r3dis' });
    await authed.connect();
    expect(await authed.ping()).toBe('PONG');
    await authed.quit();
  });

  it('runs without a password too', async () => {
    const { hostPort } = await startContainer(client, { image: await imageFor('redis'), publish: 6379 });
    const open = createClient({ url: `redis://127.0.0.1:${hostPort}` });
    open.on('error', () => {});
    await eventually(() => open.connect().then(() => undefined));
    expect(await open.set('k', 'v')).toBe('OK');
    await open.quit();
  });
});

describe('the agent image berth runs', () => {
  it('has git and a current Node with npm', async () => {
    const { id } = await startContainer(client, {
      image: await imageFor('agent'),
      cmd: ['sleep', 'infinity'],
    });
    const node = await dockerExec(id, ['node', '--version']);
    expect(Number(/^v(\d+)/.exec(node.stdout)?.[1])).toBeGreaterThanOrEqual(22);
    expect((await dockerExec(id, ['npm', '--version'])).exitCode).toBe(0);
    expect((await dockerExec(id, ['git', '--version'])).stdout).toMatch(/^git version/);
  });
});
