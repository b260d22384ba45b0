/** SQLite's error code on an error from either libSQL client (file or HTTP), if it has one. */
function sqliteCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * Whether SQLite itself failed (not a constraint the caller is told about). libsql 0.5 leaves a
 * statement that failed this way un-reset on its connection: a BEGIN IMMEDIATE that timed out on
 * another process's lock stays "in progress", and every later COMMIT on that pooled connection
 * fails with "cannot commit transaction - SQL statements in progress". Only closing the
 * connection clears it.
 */
export function isSqliteFault(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== undefined && code !== 'SQLITE_CONSTRAINT';
}

/** Another process holds the write lock (or the WAL is being recovered). */
export function isDatabaseBusy(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
