import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { clusters } from './clusters.ts';

export type EventType = 'service' | 'node' | 'network' | 'secret' | 'config';
export type EventAction = 'create' | 'update' | 'remove';

/**
 * `docker events` for swarm objects: one row per change, written in the transaction that made it,
 * so every instance (and the Worker) streams the same events in the same order. The row ID is
 * the stream's cursor; rows are kept for a while (EVENTS_RETENTION_MS) for `--since`.
 */
export const events = sqliteTable(
  'events',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    type: text().$type<EventType>().notNull(),
    action: text().$type<EventAction>().notNull(),
    actorId: text().notNull(),
    attributes: text({ mode: 'json' }).notNull().$type<Record<string, string>>(),
    /** When the change was made, in milliseconds. */
    time: integer().notNull(),
  },
  (t) => [index('events_cluster').on(t.clusterId, t.id), index('events_time').on(t.time)],
);
