import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * Control-plane instances sharing this database, each with the URL agents reach it at. An instance
 * renews `seen_at` (the database's clock) while it runs; one not seen for the instance TTL is dead
 * and agents are no longer sent to it.
 */
export const instances = sqliteTable('instances', {
  /** INSTANCE_ID. */
  id: text().primaryKey(),
  url: text().notNull(),
  seenAt: integer().notNull(),
  startedAt: integer().notNull(),
});
