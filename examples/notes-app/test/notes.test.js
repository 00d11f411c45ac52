import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp } from '../src/app.js';
import { connectCache, connectDatabase } from '../src/db.js';
import { migrate } from '../src/migrations.js';

let pool;
let cache;
let server;
let base;

before(async () => {
  pool = connectDatabase();
  cache = await connectCache();
  await migrate(pool);
  server = createApp({ pool, cache }).listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  server?.close();
  await cache?.quit();
  await pool?.end();
});

test('migrations are recorded and applied once', async () => {
  assert.deepEqual(await migrate(pool), []);
  const { rows } = await pool.query('SELECT id FROM schema_migrations ORDER BY id');
  assert.deepEqual(
    rows.map((row) => row.id),
    ['001_create_notes', '002_index_notes_created_at'],
  );
});

test('a note is stored in Postgres and the list is cached in Redis', async () => {
  const body = `note ${Date.now()}`;
  const created = await fetch(`${base}/notes`, { method: 'POST', body: JSON.stringify({ body }) });
  assert.equal(created.status, 201);

  const first = await (await fetch(`${base}/notes`)).json();
  assert.equal(first.cached, false);
  assert.equal(first.notes[0].body, body);

  const second = await (await fetch(`${base}/notes`)).json();
  assert.equal(second.cached, true);
  assert.equal(second.notes[0].body, body);
});

test('an empty note is refused', async () => {
  const response = await fetch(`${base}/notes`, { method: 'POST', body: JSON.stringify({ body: ' ' }) });
  assert.equal(response.status, 400);
});

test('health reports both services', async () => {
  const response = await fetch(`${base}/health`);
  assert.deepEqual(await response.json(), { ok: true, redis: 'PONG' });
});
