import { integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { clusters } from './clusters.ts';

/** Docker's two kinds of file a service's tasks are given: `docker secret` and `docker config`. */
export type PayloadKind = 'secret' | 'config';

/**
 * A secret or a config: a named, immutable payload (only its labels change). A config's `data` is
 * its bytes in base64; a secret's is only ever an envelope sealed with the cluster's data key
 * (auth/data-keys.ts), bound to the secret's ID, so the database file alone holds no secret value.
 */
export const payloads = sqliteTable(
  'payloads',
  {
    id: text().primaryKey(),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    kind: text().notNull().$type<PayloadKind>(),
    name: text().notNull(),
    labels: text({ mode: 'json' }).notNull().$type<Record<string, string>>(),
    data: text().notNull(),
    version: integer().notNull(),
    createdAt: integer().notNull(),
    updatedAt: integer().notNull(),
  },
  (t) => [uniqueIndex('payloads_cluster_kind_name').on(t.clusterId, t.kind, t.name)],
);

export type PayloadRow = typeof payloads.$inferSelect;
