import { and, eq, inArray, isNotNull, notInArray, or, sql } from 'drizzle-orm';
import { alsoEq, inIds, type Reader } from '../db/database.ts';
import { HOLDING_STATES, nodes, services, TERMINAL_STATES, tasks } from '../db/schema/index.ts';
import type { PortConfig, ServiceSpec } from '../swarm/service-spec.ts';
import { logRequestsIndexes, nodesLogRequests } from '../log-relay/index.ts';
import { ingressPublished } from '../swarm/mesh-changes.ts';
import { addressOf } from '../swarm/address-space.ts';
import { ingressNetworkId, meshViews, taskAttachments } from './mesh.ts';
import { namesViews } from './names.ts';
import type { AssignmentsResponse } from '../../protocol/agent-api.ts';
import { expandTaskSpec, hasTemplates, taskTemplateContext } from '../swarm/templates.ts';
import type { KeyRing } from '../auth/envelope.ts';
import { taskFiles } from './task-files.ts';
import { groupBy } from '../group-by.ts';

/** Services publishing ingress ports: every node's routing mesh needs their running tasks. */
async function ingressServices(db: Reader, clusterId: string) {
  const rows = await db
    .select({ id: services.id, name: services.name, ports: services.endpointPorts })
    .from(services)
    .where(eq(services.clusterId, clusterId));
  return rows
    .map((s) => ({ ...s, ports: s.ports.filter((p) => p.PublishMode === 'ingress') }))
    .filter((s) => s.ports.length > 0);
}

/** `(…)` of the states in which a task holds its node's resources and addresses, for `state in`. */
export const holding = sql`(${sql.join([...HOLDING_STATES].map((st) => sql`${st}`), sql`, `)})`;

/**
 * The index of what each node's answer is built from: the node itself, its own tasks, the
 * cluster's ingress ports and the tasks behind them, the mesh, the names on its tasks' networks,
 * and its log requests. It rises exactly when the node's answer may differ, and is never 0 (the
 * node row's version is at least the index it joined at): a long-poll with index 0 does not wait,
 * so an idle node answered with 0 would poll in a busy loop.
 *
 * Woken long-polls of a cluster ask it together (answer-batches.ts), so it reads indexes, not
 * rows: the cluster's part once, each node's part in one statement for the whole batch. A task
 * not yet scheduled (a global service's names its node at once) is not in the node's answer, so
 * it does not move the index either: the node hears of it once, when it is assigned.
 */
export async function assignmentsIndexes(db: Reader, clusterId: string, nodeIds: readonly string[]): Promise<Map<string, number>> {
  const [cluster] = await db.all<{ idx: number | null }>(sql`
    select max(
      coalesce((select ingress_index from clusters where id = ${clusterId}), 0),
      coalesce((select mesh_index from clusters where id = ${clusterId}), 0),
      coalesce((
        select max(t.version) from tasks t
        where t.cluster_id = ${clusterId} and t.service_id in (${ingressPublished(sql`${clusterId}`)})
      ), 0)
    ) as idx`);
  const perNode = await db.all<{ id: string; idx: number | null }>(sql`
    select ids.value as id, max(
      coalesce((select max(version) from tasks where node_id = ids.value and state not in ('new', 'pending')), 0),
      coalesce((select version from nodes where id = ids.value), 1),
      coalesce((
        select max(n.names_index) from networks n
        where n.id in (
          select json_extract(a.value, '$.networkId') from tasks t, json_each(t.networks) a
          where t.node_id = ids.value and t.networks is not null and t.state in ${holding})
      ), 0)
    ) as idx
    from json_each(${JSON.stringify(nodeIds)}) ids`);
  const logs = await logRequestsIndexes(db, clusterId, nodeIds);
  const clusterIndex = cluster?.idx ?? 0;
  return new Map(perNode.map((r) => [r.id, Math.max(r.idx ?? 1, clusterIndex, logs.get(r.id) ?? 0)]));
}

/**
 * A running task on overlay networks that is to stop was a backend until its stop was decided
 * (that write took it out of names, VIPs and routing meshes): it drains for at most what is left of
 * the drain period since then, and less once every host has let it go (drains.ts). One stopped long
 * ago (say, while its host was cut off) stops at once.
 */
function drainOf(t: { desiredState: string; state: string; networks: unknown[] | null; updatedAt: number }, drainMs: number, now: number) {
  if (t.desiredState === 'running' || t.desiredState === 'ready' || t.state !== 'running' || !t.networks?.length) return {};
  const left = drainMs - (now - t.updatedAt);
  return left > 0 ? { drainMs: left } : {};
}

/** What every answer of a batch carries alike. */
export interface AnswerTiming {
  heartbeatPeriodMs: number;
  taskDrainMs: number;
  controlPlaneUrls: string[];
}

/**
 * The complete set of each node's tasks (what to run, and what to stop and remove) with the views
 * its host builds from the rest of the cluster: the routing mesh, the overlay mesh, the names, its
 * log requests. Built for a batch of nodes at once from one read of each table, since a change that
 * concerns many nodes (a global service, a scale-up) wakes their long-polls together.
 */
export async function nodesAssignments(
  db: Reader,
  clusterId: string,
  /** Each node's index, read before its tasks. */
  indexes: ReadonlyMap<string, number>,
  timing: AnswerTiming,
  /** Opens the secrets the nodes' tasks are to be given. */
  kek: KeyRing,
): Promise<Map<string, AssignmentsResponse>> {
  const now = Date.now();
  const nodeIds = [...indexes.keys()];
  // Finished tasks the control plane no longer wants stay out (the agent removes their containers),
  // so a node's history is not read, and only the columns the answer carries are.
  const rows = await db
    .select({
      id: tasks.id,
      nodeId: tasks.nodeId,
      serviceId: tasks.serviceId,
      slot: tasks.slot,
      desiredState: tasks.desiredState,
      state: tasks.state,
      spec: tasks.spec,
      networks: tasks.networks,
      updatedAt: tasks.updatedAt,
      serviceName: services.name,
      serviceLabels: sql<string | null>`json_extract(${services.spec}, '$.Labels')`,
      ports: services.endpointPorts,
    })
    .from(tasks)
    .leftJoin(services, eq(services.id, tasks.serviceId))
    .where(
      and(
        inIds(tasks.nodeId, nodeIds),
        alsoEq(tasks.clusterId, clusterId),
        // A global task names its node before the scheduler has checked it fits; not the agent's yet.
        notInArray(tasks.state, ['new', 'pending']),
        or(
          inArray(tasks.desiredState, ['running', 'ready']),
          notInArray(tasks.state, [...TERMINAL_STATES]),
          // A completed job task keeps its container (and so its logs), as dockerd does, until it is reaped.
          and(isNotNull(tasks.jobIteration), eq(tasks.state, 'complete')),
        ),
      ),
    );
  const byNode = groupBy(rows, (t) => t.nodeId!);
  const own = new Map(nodeIds.map((id) => [id, byNode.get(id) ?? []]));
  const ingress = await ingressServices(db, clusterId);
  const ingressNetwork = rows.some((t) => t.networks?.length) || ingress.length ? await ingressNetworkId(db, clusterId) : undefined;
  const templated = new Set(rows.filter((t) => hasTemplates(t.spec)).map((t) => t.id));
  const templatedNodes = templated.size
    ? await db.select().from(nodes).where(inArray(nodes.id, [...new Set(rows.filter((t) => templated.has(t.id)).map((t) => t.nodeId!))]))
    : [];
  const nodeById = new Map(templatedNodes.map((n) => [n.id, n]));
  const files = await taskFiles(db, kek, clusterId, rows);
  const backends = ingress.length
    ? await db
        .select({ taskId: tasks.id, serviceId: tasks.serviceId, nodeId: tasks.nodeId, networks: tasks.networks })
        .from(tasks)
        .where(and(inArray(tasks.serviceId, ingress.map((s) => s.id)), eq(tasks.state, 'running'), eq(tasks.desiredState, 'running')))
    : [];
  // The routing mesh's view is the same for every node.
  const ingressView = ingress.map((s) => ({
    serviceId: s.id,
    ports: s.ports,
    backends: backends
      .filter((b) => b.serviceId === s.id)
      .map((b) => {
        const held = b.networks?.find((n) => n.networkId === ingressNetwork);
        const address = held && addressOf(held.address);
        return { taskId: b.taskId, nodeId: b.nodeId!, ...(address ? { address } : {}) };
      }),
  }));
  const logRequests = await nodesLogRequests(db, clusterId, nodeIds);
  const meshes = await meshViews(db, clusterId, own, ingress.length ? ingressNetwork : undefined);
  const names = await namesViews(db, clusterId, own, ingressNetwork);
  const answers = new Map<string, AssignmentsResponse>();
  for (const [nodeId, index] of indexes) {
    const node = nodeById.get(nodeId);
    answers.set(nodeId, {
      index,
      nodeId,
      heartbeatPeriodMs: timing.heartbeatPeriodMs,
      controlPlaneUrls: timing.controlPlaneUrls,
      tasks: own.get(nodeId)!.map((t) => ({
        taskId: t.id,
        serviceId: t.serviceId,
        serviceName: t.serviceName ?? '',
        slot: t.slot,
        desiredState: t.desiredState,
        state: t.state,
        // Templates are filled in for this task on this node; the stored task keeps them as written.
        spec: node && templated.has(t.id) ? expandTaskSpec(t.spec, taskTemplateContext(t, node)) : t.spec,
        ports: t.ports ?? [],
        networks: taskAttachments(t.networks, t.spec.Networks, ingressNetwork),
        ...(files.has(t.id) ? { files: files.get(t.id) } : {}),
        ...drainOf(t, timing.taskDrainMs, now),
      })),
      ingress: ingressView,
      logRequests: logRequests.get(nodeId) ?? [],
      mesh: meshes.get(nodeId)!,
      names: names.get(nodeId) ?? [],
    });
  }
  return answers;
}
