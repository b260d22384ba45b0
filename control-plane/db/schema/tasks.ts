import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { clusters } from './clusters.ts';

import type { ContainerStatus, TaskReport } from '../../../protocol/agent-api.ts';
import type { TaskSpec } from '../../../protocol/task-spec.ts';
import type { DesiredState, TaskState } from '../../../protocol/task-states.ts';

export * from '../../../protocol/task-states.ts';

/** A task's address on one overlay network, with the subnet's prefix length (`10.0.1.5/24`). */
export interface TaskNetwork {
  networkId: string;
  address: string;
}

/**
 * One-shot unit of work in a service's slot. Never moves between nodes; a replacement is a new task.
 * `state` is observed (written by agents, only forward), `desiredState` is the control plane's.
 */
export const tasks = sqliteTable(
  'tasks',
  {
    id: text().primaryKey(),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    serviceId: text().notNull(),
    /** Replica slot (1..N); 0 for global services, whose tasks are tied to a node instead. */
    slot: integer().notNull(),
    nodeId: text(),
    /** TaskSpec (the service's TaskTemplate when the task was made). */
    spec: text({ mode: 'json' }).notNull().$type<TaskSpec>(),
    specHash: text().notNull(),
    /** The job iteration a job's task was made for (its service's JobStatus then); null for other services. */
    jobIteration: integer(),
    desiredState: text().$type<DesiredState>().notNull(),
    state: text().$type<TaskState>().notNull(),
    message: text().notNull().default(''),
    err: text(),
    /** ContainerStatus and PortStatus as reported by the agent. */
    containerStatus: text({ mode: 'json' }).$type<ContainerStatus>(),
    portStatus: text({ mode: 'json' }).$type<NonNullable<TaskReport['portStatus']>>(),
    /** Its addresses on its service's overlay networks, given when it was assigned. */
    networks: text({ mode: 'json' }).$type<TaskNetwork[]>(),
    statusAt: integer().notNull(),
    version: integer().notNull(),
    createdAt: integer().notNull(),
    updatedAt: integer().notNull(),
  },
  (t) => [
    index('tasks_service').on(t.clusterId, t.serviceId),
    index('tasks_node_version').on(t.nodeId, t.version),
    // The scheduler's and reconciler's working set: tasks the control plane still wants somewhere.
    index('tasks_live').on(t.clusterId, t.desiredState).where(sql`desired_state in ('running', 'ready')`),
  ],
);
