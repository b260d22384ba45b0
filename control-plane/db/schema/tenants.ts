import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** A customer of a multi-tenant deployment; owns clusters. */
export const tenants = sqliteTable('tenants', {
  id: text().primaryKey(),
  name: text().notNull().unique(),
  createdAt: integer().notNull(),
});
