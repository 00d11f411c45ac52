import http from 'node:http';

const CACHE_KEY = 'notes:recent';

/** The notes service: Postgres holds the notes, Redis caches the recent list. */
export function createApp({ pool, cache }) {
  async function recentNotes() {
    const cached = await cache.get(CACHE_KEY);
    if (cached) return { notes: JSON.parse(cached), cached: true };
    const { rows } = await pool.query(
      'SELECT id, body, created_at FROM notes ORDER BY created_at DESC, id DESC LIMIT 20',
    );
    await cache.set(CACHE_KEY, JSON.stringify(rows), { EX: 60 });
    return { notes: rows, cached: false };
  }

  async function addNote(body) {
    const { rows } = await pool.query('INSERT INTO notes (body) VALUES ($1) RETURNING id, body, created_at', [
      body,
    ]);
    await cache.del(CACHE_KEY);
    return rows[0];
  }

  return http.createServer(async (request, response) => {
    const reply = (status, value) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(value));
    };
    try {
      if (request.method === 'GET' && request.url === '/health') {
        await pool.query('SELECT 1');
        return reply(200, { ok: true, redis: await cache.ping() });
      }
      if (request.method === 'GET' && request.url === '/notes') return reply(200, await recentNotes());
      if (request.method === 'POST' && request.url === '/notes') {
        let text = '';
        for await (const chunk of request) text += chunk;
        const body = JSON.parse(text || '{}').body;
        if (typeof body !== 'string' || body.trim() === '')
          return reply(400, { error: 'body must be a non-empty string' });
        return reply(201, await addNote(body));
      }
      reply(404, { error: 'not found' });
    } catch (error) {
      reply(500, { error: error.message });
    }
  });
}
