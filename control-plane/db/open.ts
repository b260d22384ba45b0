import { createClient } from '@libsql/client';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { drizzle } from 'drizzle-orm/libsql';
import { Database, DRIZZLE_OPTIONS } from './database.ts';
import { applyMigrations } from './migrate.ts';

/** Opens the Node-side database (file or libSQL server), tuned and migrated. */
export async function openDatabase(url: string, authToken?: string): Promise<Database> {
  if (url.startsWith('file:')) mkdirSync(dirname(url.slice('file:'.length)), { recursive: true, mode: 0o700 });
  const client = createClient({ url, authToken, timeout: 10_000 });
  if (url.startsWith('file:')) {
    // WAL persists in the file; readers then never wait for the writer.
    await client.execute('PRAGMA journal_mode = WAL');
  }
  const database = new Database(client, drizzle(client, DRIZZLE_OPTIONS));
  await applyMigrations(database);
  return database;
}
