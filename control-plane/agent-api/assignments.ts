import { and, eq, inArray, or, sql } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { nodes, services, tasks } from '../db/schema/index.ts';
import type { PortConfig, ServiceSpec } from '../swarm/service-spec.ts';
import type { AssignmentsResponse } from './protocol.ts';

/** Services publishing ingress ports: every node's routing mesh needs their running tasks. */
async function ingressServices(db: Reader, clusterId: string) {
  const rows = await db
    .select({ id: services.id, name: services.name, ports: services.endpointPorts })
    .from(services)
    .where(eq(services.clusterId, clusterId));
  return rows
    .map((s) => ({ ...s, ports: (s.ports as unknown as PortConfig[]).filter((p) => p.PublishMode === 'ingress') }))
    .filter((s) => s.ports.length > 0);
}

/**
 * The index of what a node's answer is built from: its own tasks and the tasks behind the routing
 * mesh. It rises exactly when the node's answer may differ.
 */
export async function assignmentsIndex(db: Reader, clusterId: string, nodeId: string): Promise<number> {
  const ingress = (await ingressServices(db, clusterId)).map((s) => s.id);
  const [row] = await db
    .select({ index: sql<number | null>`max(${tasks.version})` })
    .from(tasks)
    .where(and(eq(tasks.clusterId, clusterId), ingress.length ? or(eq(tasks.nodeId, nodeId), inArray(tasks.serviceId, ingress)) : eq(tasks.nodeId, nodeId)));
  return row?.index ?? 0;
}

/** The complete set of a node's tasks: what to run, and what to stop and remove. */
export async function nodeAssignments(
  db: Reader,
  clusterId: string,
  nodeId: string,
  heartbeatPeriodMs: number,
): Promise<AssignmentsResponse> {
  const index = await assignmentsIndex(db, clusterId, nodeId);
  const rows = await db
    .select({ task: tasks, serviceName: services.name, serviceSpec: services.spec, ports: services.endpointPorts })
    .from(tasks)
    .leftJoin(services, eq(services.id, tasks.serviceId))
    .where(and(eq(tasks.clusterId, clusterId), eq(tasks.nodeId, nodeId)));
  const assignments = rows
    // Finished tasks the control plane no longer wants stay out; the agent removes their containers.
    .filter(({ task }) => task.desiredState === 'running' || task.desiredState === 'ready' || !['complete', 'shutdown', 'failed', 'rejected', 'orphaned'].includes(task.state))
    .map(({ task, serviceName, ports }) => ({
      taskId: task.id,
      serviceId: task.serviceId,
      serviceName: serviceName ?? '',
      slot: task.slot,
      desiredState: task.desiredState,
      state: task.state,
      spec: task.spec as ServiceSpec,
      ports: (ports ?? []) as unknown as AssignmentsResponse['tasks'][number]['ports'],
    }));

  const ingress = await ingressServices(db, clusterId);
  const backends = ingress.length
    ? await db
        .select({ taskId: tasks.id, serviceId: tasks.serviceId, nodeId: tasks.nodeId, addr: sql<string>`json_extract(${nodes.description}, '$.addr')` })
        .from(tasks)
        .innerJoin(nodes, eq(nodes.id, tasks.nodeId))
        .where(and(inArray(tasks.serviceId, ingress.map((s) => s.id)), eq(tasks.state, 'running'), eq(tasks.desiredState, 'running')))
    : [];
  return {
    index,
    nodeId,
    heartbeatPeriodMs,
    tasks: assignments,
    ingress: ingress.map((s) => ({
      serviceId: s.id,
      ports: s.ports,
      backends: backends.filter((b) => b.serviceId === s.id).map((b) => ({ taskId: b.taskId, nodeId: b.nodeId!, addr: b.addr })),
    })),
    logRequests: [],
  };
}
