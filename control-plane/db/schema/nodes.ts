import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { NodeDescription } from '../../../protocol/agent-api.ts';
import { clusters } from './clusters.ts';

export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'unknown' | 'ready' | 'down' | 'disconnected';

export type { NodeDescription };

/** Docker's NodeSpec, stored whole. */
export interface NodeSpec {
  Name?: string;
  Labels?: Record<string, string>;
  Role?: 'worker' | 'manager';
  Availability?: NodeAvailability;
  [field: string]: unknown;
}

/** A Docker host running swarm-agent. */
export const nodes = sqliteTable(
  'nodes',
  {
    id: text().primaryKey(),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    role: text({ enum: ['worker', 'manager'] }).notNull(),
    /** Docker NodeSpec ({Name, Labels, Role, Availability}), stored whole. */
    spec: text({ mode: 'json' }).notNull().$type<NodeSpec>(),
    availability: text().$type<NodeAvailability>().notNull(),
    hostname: text().notNull(),
    description: text({ mode: 'json' }).notNull().$type<NodeDescription>(),
    state: text().$type<NodeState>().notNull(),
    stateMessage: text().notNull().default(''),
    /** Credentials carry this generation; bumping it revokes every credential issued before. */
    credentialGeneration: integer().notNull().default(1),
    /** Liveness is observed state: heartbeats move it without bumping the change index. */
    lastHeartbeatAt: integer(),
    /**
     * The node's own address on the ingress network (CIDR), given by the leader: the source of its
     * routing mesh's connections to tasks on other nodes, so their replies find it over the mesh.
     */
    meshAddress: text(),
    /**
     * The index of the last assignments answer whose names, virtual IPs and routing mesh the node
     * says it has put in place: a stopping backend drains until every node that routes to it is
     * past the index that took it out. Observed state, like the heartbeat.
     */
    appliedIndex: integer().notNull().default(0),
    version: integer().notNull(),
    createdAt: integer().notNull(),
    updatedAt: integer().notNull(),
  },
  (t) => [index('nodes_cluster').on(t.clusterId)],
);
