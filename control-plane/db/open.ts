import { createClient } from '@libsql/client';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { drizzle } from 'drizzle-orm/libsql';
import { DATABASE_DEFAULTS, type DatabaseTuning } from '../config.ts';
import { Database, DRIZZLE_OPTIONS } from './database.ts';
import { applyMigrations } from './migrate.ts';
import { RenewingClient } from './renewing-client.ts';
import { walTruncation } from './wal.ts';

/** Opens the Node-side database (file or libSQL server), tuned and migrated. */
export async function openDatabase(url: string, authToken?: string, tuning: DatabaseTuning = DATABASE_DEFAULTS): Promise<Database> {
  const file = url.startsWith('file:') ? url.slice('file:'.length).replace(/\?.*/, '') : undefined;
  if (file) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const open = () => createClient({ url, authToken, timeout: tuning.busyTimeoutMs });
  // A file's connections are replaced after SQLite fails on one (see RenewingClient).
  const client = file ? new RenewingClient(open) : open();
  if (file) {
    // WAL persists in the file; readers then never wait for the writer.
    await client.execute('PRAGMA journal_mode = WAL');
  }
  const database = new Database(client, drizzle(client, DRIZZLE_OPTIONS), true, {
    writeWaitMs: tuning.writeWaitMs,
    afterWrite: file ? walTruncation(`${file}-wal`, tuning.walLimitBytes) : undefined,
  });
  await database.whenLockFree(() => applyMigrations(database));
  return database;
}
