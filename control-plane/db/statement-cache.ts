import { type Client, createClient } from '@libsql/client';
import { ConnectionPool, Sqlite3Client } from '@libsql/client/sqlite3';
import { expandConfig, isInMemoryConfig } from '@libsql/core/config';

/** One of the pool's libsql connections (libsql's `Database`). */
type Connection = ReturnType<ConnectionPool['acquireSync']>;
type PreparedStatement = ReturnType<Connection['prepare']>;
type ConnectionOptions = ConstructorParameters<typeof ConnectionPool>[1];

export interface FileClientOptions {
  /** SQLite's busy timeout, ms. */
  timeout: number;
  /** Prepared statements kept per connection, least recently used dropped first; 0 keeps none. */
  statementCacheSize: number;
}

/**
 * A file client whose connections keep their prepared statements. @libsql/client prepares the SQL
 * of every execution anew, and preparing cost more than running for the control plane's hot
 * queries (drizzle's SQL, with `?` placeholders, is the same text each time). libsql resets a
 * statement before each run, so one statement serves any number of executions in turn; the
 * client's calls are synchronous, so no two use one at once. In-memory databases and embedded
 * replicas take the plain client.
 */
export function createFileClient(url: string, options: FileClientOptions): Client {
  const config = expandConfig({ url, timeout: options.timeout }, true);
  if (options.statementCacheSize <= 0 || isInMemoryConfig(config) || config.scheme !== 'file') {
    return createClient({ url, timeout: options.timeout });
  }
  const pool = new StatementCachingPool(config.path, { timeout: config.timeout }, Math.max(1, config.concurrency), options.statementCacheSize);
  // Fail at once if the file cannot be opened, as createClient does.
  const probe = pool.acquireSync();
  try {
    probe.prepare('SELECT 1').all();
  } catch (err) {
    pool.close();
    throw err;
  }
  pool.release(probe);
  return new Sqlite3Client(pool, config.intMode);
}

/** Every connection the pool opens is given its statement cache before its first use. */
class StatementCachingPool extends ConnectionPool {
  private readonly caching = new WeakSet<Connection>();

  constructor(
    path: string,
    options: ConnectionOptions,
    maxConnections: number,
    private readonly capacity: number,
  ) {
    super(path, options, maxConnections);
  }

  // `acquire` borrows through this too, and a waiter is handed a connection borrowed here before.
  override acquireSync(forTransaction?: boolean): Connection {
    const connection = super.acquireSync(forTransaction);
    if (!this.caching.has(connection)) {
      keepStatements(connection, this.capacity);
      this.caching.add(connection);
    }
    return connection;
  }
}

/**
 * Makes `prepare` answer from a least-recently-used cache of the connection's statements. A libsql
 * connection closes only when its last statement is gone, so closing it empties the cache.
 */
export function keepStatements(connection: Connection, capacity: number): void {
  const statements = new Map<string, PreparedStatement>();
  const prepare = connection.prepare.bind(connection);
  const close = connection.close.bind(connection);
  connection.prepare = ((sql: string) => {
    let statement = statements.get(sql);
    if (statement) {
      statements.delete(sql);
    } else {
      statement = prepare(sql);
      if (statements.size >= capacity) statements.delete(statements.keys().next().value!);
    }
    statements.set(sql, statement);
    return statement;
  }) as Connection['prepare'];
  connection.close = () => {
    statements.clear();
    return close();
  };
}
