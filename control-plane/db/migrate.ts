import { migrate } from 'drizzle-orm/libsql/migrator';
import { join } from 'node:path';
import { packageRoot } from '../../protocol/package-info.ts';
import type { Database } from './database.ts';

/** Applies drizzle-kit's migrations at start; a no-op when the schema is current. */
export async function applyMigrations(database: Database): Promise<void> {
  // The package carries migrations/ at its root, beside both the sources and dist/.
  await migrate(database.db, { migrationsFolder: join(packageRoot(), 'migrations') });
}
