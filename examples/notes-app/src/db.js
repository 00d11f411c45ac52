import pg from 'pg';
import { createClient } from 'redis';

export function connectDatabase(url = process.env.DATABASE_URL) {
  if (!url) throw new Error('DATABASE_URL is not set');
  return new pg.Pool({ connectionString: url, max: 4 });
}

export async function connectCache(url = process.env.REDIS_URL) {
  if (!url) throw new Error('REDIS_URL is not set');
  const client = createClient({ url });
  client.on('error', (error) => console.error('redis:', error.message));
  await client.connect();
  return client;
}
