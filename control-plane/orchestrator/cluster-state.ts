import { and, eq, sql } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { nodes, services, tasks } from '../db/schema/index.ts';
import type { SchedNode, TaskDemand } from '../scheduler/filters.ts';
import { isLive } from './reconcile.ts';

export type NodeRow = typeof nodes.$inferSelect;
export type ServiceRow = typeof services.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;

/** Everything orchestration reads about one cluster, loaded in one go inside its transaction. */
export interface ClusterState {
  nodes: NodeRow[];
  services: ServiceRow[];
  tasks: TaskRow[];
}

export async function loadClusterState(tx: Reader, clusterId: string, serviceId?: string): Promise<ClusterState> {
  const [nodeRows, serviceRows, taskRows] = await Promise.all([
    tx.select().from(nodes).where(eq(nodes.clusterId, clusterId)),
    tx
      .select()
      .from(services)
      .where(serviceId ? and(eq(services.clusterId, clusterId), eq(services.id, serviceId)) : eq(services.clusterId, clusterId)),
    tx
      .select()
      .from(tasks)
      .where(serviceId ? and(eq(tasks.clusterId, clusterId), eq(tasks.serviceId, serviceId)) : eq(tasks.clusterId, clusterId)),
  ]);
  return { nodes: nodeRows, services: serviceRows, tasks: taskRows };
}

export function nodeView(n: NodeRow) {
  const labels = ((n.spec as { Labels?: Record<string, string> }).Labels ?? {}) as Record<string, string>;
  return {
    id: n.id,
    hostname: n.hostname,
    role: n.role,
    labels,
    engineLabels: n.description.engineLabels ?? {},
    os: n.description.os,
    arch: n.description.arch,
    state: n.state,
    availability: n.availability,
  };
}

/** Nodes with the load of the live tasks already on them, ready for placement. */
export function schedulingNodes(state: ClusterState, demandOf: (t: TaskRow) => TaskDemand): SchedNode[] {
  const byId = new Map<string, SchedNode>();
  for (const n of state.nodes) {
    byId.set(n.id, {
      ...nodeView(n),
      nanoCpus: n.description.nanoCpus,
      memoryBytes: n.description.memoryBytes,
      reservedCpus: 0,
      reservedMemory: 0,
      taskCount: 0,
      tasksPerService: new Map(),
      hostPorts: new Set(),
    });
  }
  for (const t of state.tasks) {
    if (!t.nodeId || !isLive(t) || t.state === 'pending' || t.state === 'new') continue;
    const node = byId.get(t.nodeId);
    if (!node) continue;
    const demand = demandOf(t);
    node.reservedCpus += demand.nanoCpus;
    node.reservedMemory += demand.memoryBytes;
    for (const port of demand.hostPorts) node.hostPorts.add(port);
    node.taskCount++;
    node.tasksPerService.set(t.serviceId, (node.tasksPerService.get(t.serviceId) ?? 0) + 1);
  }
  return [...byId.values()];
}

/** Cheap change detection: the index each cluster is at. */
export async function clusterIndexes(db: Reader): Promise<Map<string, number>> {
  const rows = await db.all<{ id: string; change_index: number }>(sql`select id, change_index from clusters`);
  return new Map(rows.map((r) => [r.id, r.change_index]));
}
