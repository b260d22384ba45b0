import { integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { clusters } from './clusters.ts';

/**
 * An overlay network: a subnet of the cluster's address pool that tasks on any node join. The
 * `ingress` network is predefined (Docker lists it); the others are `docker network create -d overlay`.
 */
export const networks = sqliteTable(
  'networks',
  {
    id: text().primaryKey(),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    /** IPv4 CIDR, e.g. 10.0.1.0/24. */
    subnet: text().notNull(),
    gateway: text().notNull(),
    attachable: integer({ mode: 'boolean' }).notNull().default(false),
    internal: integer({ mode: 'boolean' }).notNull().default(false),
    ingress: integer({ mode: 'boolean' }).notNull().default(false),
    labels: text({ mode: 'json' }).notNull().$type<Record<string, string>>(),
    /** Driver options as posted (`--opt`); the mesh always encrypts, whatever `encrypted` says. */
    options: text({ mode: 'json' }).notNull().$type<Record<string, string>>(),
    version: integer().notNull(),
    /**
     * Index of the last change to the names resolved on this network (a task on it started running
     * or stopped being an answer): the assignments index of every node with a task on it.
     */
    namesIndex: integer().notNull().default(0),
    createdAt: integer().notNull(),
    updatedAt: integer().notNull(),
  },
  (t) => [uniqueIndex('networks_cluster_name').on(t.clusterId, t.name)],
);

export type NetworkRow = typeof networks.$inferSelect;
