/** Each migration runs once, in order, recorded in schema_migrations. */
export const migrations = [
  {
    id: '001_create_notes',
    sql: `CREATE TABLE notes (
      id serial PRIMARY KEY,
      body text NOT NULL CHECK (length(body) > 0),
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
  },
  { id: '002_index_notes_created_at', sql: 'CREATE INDEX notes_created_at ON notes (created_at DESC)' },
];

export async function migrate(pool) {
  await pool.query(
    'CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  const applied = [];
  for (const migration of migrations) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // The lock makes concurrent migrators wait instead of applying a migration twice.
      await client.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
      const done = await client.query('SELECT 1 FROM schema_migrations WHERE id = $1', [migration.id]);
      if (done.rowCount === 0) {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
        applied.push(migration.id);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }
  return applied;
}
