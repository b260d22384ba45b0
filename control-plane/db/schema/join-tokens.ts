import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { clusters } from './clusters.ts';

/**
 * One row per issued join token (the JWT itself is re-derived: EdDSA signatures are deterministic).
 * `current` marks the token `docker swarm join-token` prints; rotation revokes it.
 */
export const joinTokens = sqliteTable(
  'join_tokens',
  {
    jti: text().primaryKey(),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    role: text({ enum: ['worker', 'manager'] }).notNull(),
    singleUse: integer({ mode: 'boolean' }).notNull().default(false),
    current: integer({ mode: 'boolean' }).notNull().default(false),
    issuedAt: integer().notNull(),
    expiresAt: integer().notNull(),
    usedAt: integer(),
    revokedAt: integer(),
  },
  (t) => [index('join_tokens_cluster').on(t.clusterId, t.role)],
);
