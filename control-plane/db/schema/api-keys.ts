import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { clusters } from './clusters.ts';

/** Keys for the public (Docker) API. Only a SHA-256 hash of the secret is stored. */
export const apiKeys = sqliteTable('api_keys', {
  id: text().primaryKey(),
  clusterId: text()
    .notNull()
    .references(() => clusters.id, { onDelete: 'cascade' }),
  name: text().notNull(),
  secretHash: text().notNull().unique(),
  createdAt: integer().notNull(),
  revokedAt: integer(),
});
