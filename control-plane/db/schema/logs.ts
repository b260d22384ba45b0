import { customType, index, integer, real, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { clusters } from './clusters.ts';

/** Raw bytes as Uint8Array on every runtime (Buffer is Node-only; the web client gives ArrayBuffer). */
const bytes = customType<{ data: Uint8Array; driverData: ArrayBuffer | Uint8Array }>({
  dataType: () => 'blob',
  fromDriver: (value) => (value instanceof Uint8Array ? value : new Uint8Array(value)),
});

/**
 * `docker service logs` asking one node for the logs of its tasks of one service. Agents see open
 * requests in their assignments; creating or closing one bumps the cluster index (stored here) so
 * the node's long-poll answers at once. Rows live until `expires_at`; the instance serving the CLI
 * extends it while the client is connected.
 */
export const logRequests = sqliteTable(
  'log_requests',
  {
    id: text().primaryKey(),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    nodeId: text().notNull(),
    serviceId: text().notNull(),
    taskIds: text({ mode: 'json' }).notNull().$type<string[]>(),
    follow: integer({ mode: 'boolean' }).notNull(),
    /** Lines per task from the end; null for all. */
    tail: integer(),
    timestamps: integer({ mode: 'boolean' }).notNull(),
    /** Unix seconds (fractional): only lines from then on. */
    since: real(),
    createdIndex: integer().notNull(),
    /** Index of the write that closed it early (the client went away): the agent must stop. */
    closedIndex: integer(),
    closedAt: integer(),
    /** The agent sent everything it has (a request without follow). */
    doneAt: integer(),
    expiresAt: integer().notNull(),
    createdAt: integer().notNull(),
  },
  (t) => [
    index('log_requests_node').on(t.nodeId),
    index('log_requests_expiry').on(t.clusterId, t.expiresAt),
  ],
);

/**
 * Log data on its way from an agent to whichever instance serves the CLI: docker stdcopy frames,
 * ready to send. AUTOINCREMENT keeps ids rising even after trims, since readers keep a cursor.
 */
export const logChunks = sqliteTable(
  'log_chunks',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    requestId: text().notNull(),
    data: bytes().notNull(),
    expiresAt: integer().notNull(),
  },
  (t) => [index('log_chunks_request').on(t.requestId, t.id), index('log_chunks_expiry').on(t.expiresAt)],
);
