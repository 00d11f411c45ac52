import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { resolveStackImages } from '../../src/core/agent/stack-facts.js';
import { PREINITIALISED_PGDATA } from '../../src/plan/compose.js';
import { startContainer } from '../helpers/containers.js';
import { docker, removeTestResources } from '../helpers/docker.js';
import { imageFor } from '../helpers/images.js';

afterAll(() => removeTestResources(docker()));

describe('the Postgres berth runs (its cluster made when the image was built)', () => {
  it('answers as the agent`s own user, password and database, and nothing else', async () => {
    const { images, postgresPreinitialised } = await resolveStackImages(
      docker(),
      parseConfig(''),
      '/dev/null',
    );
    expect(postgresPreinitialised).toBe(true);
    const password = 'pa ss"word';
    const { address } = await startContainer({
      image: images.postgres,
      env: {
        POSTGRES_USER: 'agent',
        POSTGRES_PASSWORD: password,
        POSTGRES_DB: 'work-db',
        PGDATA: PREINITIALISED_PGDATA,
      },
      readyWhen: /database system is ready to accept connections/,
    });
    const connection = new pg.Client({
      host: address,
      port: 5432,
      user: 'agent',
      password,
      database: 'work-db',
    });
    await connection.connect();
    const { rows } = await connection.query(
      "SELECT current_user AS who, current_database() AS db, (SELECT count(*) FROM pg_database WHERE datname = 'berth_placeholder')::int AS placeholders",
    );
    await connection.end();
    expect(rows[0]).toEqual({ who: 'agent', db: 'work-db', placeholders: 0 });

    const wrong = new pg.Client({
      host: address,
      port: 5432,
      user: 'agent',
      password: 'wrong',
      database: 'work-db',
    });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
  });
});

describe('the Redis berth runs', () => {
  it('listens on 6379 and requires the password given with --requirepass', async () => {
    const { address } = await startContainer({
      image: await imageFor('redis'),
      cmd: ['redis-server', '--requirepass', 'r3dis'],
      readyWhen: /Ready to accept connections/,
    });
    const anonymous = new Redis({ host: address, port: 6379, maxRetriesPerRequest: 0 });
    anonymous.on('error', () => {});
    await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    anonymous.disconnect();

    const authed = new Redis({ host: address, port: 6379, password: 'r3dis' });
    expect(await authed.ping()).toBe('PONG');
    await authed.quit();
  });
});

describe('the agent image berth runs', () => {
  it('has git and a current Node with npm', async () => {
    const { container } = await startContainer({
      image: await imageFor('agent'),
      cmd: ['sleep', 'infinity'],
    });
    const node = await container.exec(['node', '--version']);
    expect(Number(/^v(\d+)/.exec(node.output)?.[1])).toBeGreaterThanOrEqual(22);
    expect((await container.exec(['npm', '--version'])).exitCode).toBe(0);
    expect((await container.exec(['git', '--version'])).output).toMatch(/^git version/);
  });
});
