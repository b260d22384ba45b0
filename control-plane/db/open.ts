import { type Client, createClient } from '@libsql/client';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { drizzle } from 'drizzle-orm/libsql';
import { DATABASE_DEFAULTS, type DatabaseTuning } from '../config.ts';
import { Database, DRIZZLE_OPTIONS } from './database.ts';
import { applyMigrations } from './migrate.ts';
import { RenewingClient } from './renewing-client.ts';
import { createFileClient } from './statement-cache.ts';
import { walTruncation } from './wal.ts';

/**
 * Gives deleted rows' pages back to the file system at each commit (checkpoint, in WAL mode): a
 * burst of log chunks must not leave the file its size for good. FULL rather than INCREMENTAL:
 * libSQL's driver steps `PRAGMA incremental_vacuum` only once and leaves it open, which then blocks
 * the transaction's commit; and what this database deletes (chunks, expired rows) is small per
 * commit. A new file takes the mode at once; one made before it switches with one VACUUM here.
 */
async function reclaimableSpace(client: Client): Promise<void> {
  const FULL = 1;
  const mode = Number((await client.execute('PRAGMA auto_vacuum')).rows[0]?.[0] ?? 0);
  if (mode === FULL) return;
  await client.execute('PRAGMA auto_vacuum = FULL');
  await client.execute('VACUUM');
}

/** Opens the Node-side database (file or libSQL server), tuned and migrated. */
export async function openDatabase(url: string, authToken?: string, tuning: DatabaseTuning = DATABASE_DEFAULTS): Promise<Database> {
  const file = url.startsWith('file:') ? url.slice('file:'.length).replace(/\?.*/, '') : undefined;
  if (file) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const timeout = tuning.busyTimeoutMs;
  // A file's connections keep their prepared statements, and are replaced after SQLite fails on
  // one (see RenewingClient).
  const client = file
    ? new RenewingClient(() => createFileClient(url, { timeout, statementCacheSize: tuning.statementCacheSize }))
    : createClient({ url, authToken, timeout });
  if (file) {
    await reclaimableSpace(client);
    // WAL persists in the file; readers then never wait for the writer.
    await client.execute('PRAGMA journal_mode = WAL');
    // A checkpointed WAL shrinks back to this, rather than staying the size of its busiest moment.
    await client.execute(`PRAGMA journal_size_limit = ${tuning.walLimitBytes}`);
  }
  const database = new Database(client, drizzle(client, DRIZZLE_OPTIONS), true, {
    writeWaitMs: tuning.writeWaitMs,
    afterWrite: file ? walTruncation(`${file}-wal`, tuning.walLimitBytes) : undefined,
  });
  await database.whenLockFree(() => applyMigrations(database));
  return database;
}
