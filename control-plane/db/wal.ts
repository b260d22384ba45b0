import type { Client } from '@libsql/client';
import { statSync } from 'node:fs';

/**
 * SQLite's automatic checkpoints reuse the write-ahead log but never shrink it: after another
 * process held a reader or the lock for a while, the log keeps its peak size. This truncates it
 * once it passed `limitBytes`; it runs between serialised writes, when this process holds no
 * transaction (a reader of another process may still make the checkpoint stop short: it is tried
 * again after the next write).
 */
export function walTruncation(walFile: string, limitBytes: number): (client: Client) => Promise<void> {
  return async function truncateLargeWal(client) {
    if ((statSync(walFile, { throwIfNoEntry: false })?.size ?? 0) <= limitBytes) return;
    await client.execute('PRAGMA wal_checkpoint(TRUNCATE)').catch(() => undefined);
  };
}
