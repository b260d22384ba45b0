import { and, eq, sql } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { HOLDING_STATES, nodes, services, tasks } from '../db/schema/index.ts';
import type { SchedNode, TaskDemand } from '../scheduler/filters.ts';
import type { TaskSpec } from '../swarm/service-spec.ts';

export type NodeRow = typeof nodes.$inferSelect;
export type ServiceRow = typeof services.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;

/** What orchestration needs of a task: its place and state, not its (large) spec or statuses. */
const TASK_COLUMNS = {
  id: tasks.id,
  serviceId: tasks.serviceId,
  slot: tasks.slot,
  nodeId: tasks.nodeId,
  specHash: tasks.specHash,
  jobIteration: tasks.jobIteration,
  desiredState: tasks.desiredState,
  state: tasks.state,
  err: tasks.err,
  statusAt: tasks.statusAt,
  createdAt: tasks.createdAt,
};
export type TaskSummary = Pick<TaskRow, keyof typeof TASK_COLUMNS>;

/** Everything orchestration reads about one cluster, loaded in one go inside its transaction. */
export interface ClusterState {
  nodes: NodeRow[];
  services: ServiceRow[];
  tasks: TaskSummary[];
}

export async function loadClusterState(tx: Reader, clusterId: string, serviceId?: string): Promise<ClusterState> {
  const [nodeRows, serviceRows, taskRows] = await Promise.all([
    tx.select().from(nodes).where(eq(nodes.clusterId, clusterId)),
    tx
      .select()
      .from(services)
      .where(serviceId ? and(eq(services.clusterId, clusterId), eq(services.id, serviceId)) : eq(services.clusterId, clusterId)),
    tx
      .select(TASK_COLUMNS)
      .from(tasks)
      .where(serviceId ? and(eq(tasks.clusterId, clusterId), eq(tasks.serviceId, serviceId)) : eq(tasks.clusterId, clusterId)),
  ]);
  return { nodes: nodeRows, services: serviceRows, tasks: taskRows };
}

/**
 * The task specs behind the given (service, spec hash) pairs, one stored task each: tasks of a
 * service's current spec are built from its TaskTemplate, so only older specs are read back.
 */
export async function taskSpecs(tx: Reader, pairs: Array<{ serviceId: string; specHash: string }>): Promise<Map<string, TaskSpec>> {
  const out = new Map<string, TaskSpec>();
  for (const { serviceId, specHash } of pairs) {
    const [row] = await tx
      .select({ spec: tasks.spec })
      .from(tasks)
      .where(and(eq(tasks.serviceId, serviceId), eq(tasks.specHash, specHash)))
      .limit(1);
    if (row) out.set(`${serviceId}/${specHash}`, row.spec);
  }
  return out;
}

export function nodeView(n: NodeRow) {
  const labels = n.spec.Labels ?? {};
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

/**
 * Nodes with the load of the tasks on them, ready for placement. A task holds its share from the
 * moment it is assigned until its agent reports it ended, whatever the desired state: a task being
 * stopped still has its container, its memory and its host ports until it has stopped.
 */
export function schedulingNodes(state: ClusterState, demandOf: (t: TaskSummary) => TaskDemand): SchedNode[] {
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
    if (!t.nodeId || !HOLDING_STATES.has(t.state)) continue;
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

/**
 * Per cluster: its node count (its heartbeat period follows it) and the oldest last heartbeat of a
 * node not marked down, if any; the leader compares it with the cluster's own grace.
 */
export async function nodeSilence(db: Reader): Promise<Map<string, { count: number; oldestBeat: number | undefined }>> {
  const rows = await db.all<{ cluster_id: string; n: number; oldest: number | null }>(
    sql`select cluster_id, count(*) as n, min(case when state != 'down' then coalesce(last_heartbeat_at, created_at) end) as oldest from nodes group by cluster_id`,
  );
  return new Map(rows.map((r) => [r.cluster_id, { count: r.n, oldestBeat: r.oldest ?? undefined }]));
}
