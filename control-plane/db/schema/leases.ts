import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * Leader lease: the holder runs the reconciler and scheduler. `epoch` rises on every change of
 * holder, and every leader write re-checks it in its own transaction (fencing).
 */
export const leases = sqliteTable('leases', {
  name: text().primaryKey(),
  holder: text().notNull(),
  epoch: integer().notNull(),
  expiresAt: integer().notNull(),
  acquiredAt: integer().notNull(),
});
