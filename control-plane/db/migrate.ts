import { migrate } from 'drizzle-orm/libsql/migrator';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.ts';

const MIGRATIONS = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Applies drizzle-kit's migrations at start; a no-op when the schema is current. */
export async function applyMigrations(database: Database): Promise<void> {
  await migrate(database.db, { migrationsFolder: MIGRATIONS });
}
