import './env.js';
import { connectDatabase } from './db.js';
import { migrate } from './migrations.js';

const pool = connectDatabase();
try {
  const applied = await migrate(pool);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
} finally {
  await pool.end();
}
