import { type Client, createClient } from '@libsql/client';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { drizzle } from 'drizzle-orm/libsql';
import { Database, DRIZZLE_OPTIONS } from './database.ts';
import { applyMigrations } from './migrate.ts';

const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * Makes deleted rows' pages returnable to the file system (housekeeping runs incremental_vacuum):
 * a burst of log chunks must not leave the file its size for good. A new file takes the mode at
 * once; a file made before it needs one VACUUM, at this start, to switch.
 */
async function reclaimableSpace(client: Client): Promise<void> {
  const INCREMENTAL = 2;
  const mode = Number((await client.execute('PRAGMA auto_vacuum')).rows[0]?.[0] ?? 0);
  if (mode === INCREMENTAL) return;
  await client.execute('PRAGMA auto_vacuum = INCREMENTAL');
  await client.execute('VACUUM');
}

/** Opens the Node-side database (file or libSQL server), tuned and migrated. */
export async function openDatabase(url: string, authToken?: string): Promise<Database> {
  if (url.startsWith('file:')) mkdirSync(dirname(url.slice('file:'.length)), { recursive: true, mode: 0o700 });
  const client = createClient({ url, authToken, timeout: 10_000 });
  if (url.startsWith('file:')) {
    await reclaimableSpace(client);
    // WAL persists in the file; readers then never wait for the writer.
    await client.execute('PRAGMA journal_mode = WAL');
    // A checkpointed WAL shrinks back to this, rather than staying the size of its busiest moment.
    await client.execute(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  }
  const database = new Database(client, drizzle(client, DRIZZLE_OPTIONS));
  await applyMigrations(database);
  return database;
}
