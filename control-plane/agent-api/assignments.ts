import { and, eq, inArray, isNotNull, notInArray, or, sql } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { HOLDING_STATES, nodes, services, TERMINAL_STATES, tasks } from '../db/schema/index.ts';
import type { PortConfig, ServiceSpec } from '../swarm/service-spec.ts';
import { logRequestsIndex, nodeLogRequests } from '../log-relay/index.ts';
import { ingressPublished } from '../swarm/mesh-changes.ts';
import { addressOf } from '../swarm/address-space.ts';
import { ingressNetworkId, meshView, taskAttachments } from './mesh.ts';
import { namesView } from './names.ts';
import type { AssignmentsResponse } from '../../protocol/agent-api.ts';
import { expandTaskSpec, hasTemplates, taskTemplateContext } from '../swarm/templates.ts';
import type { KeyRing } from '../auth/envelope.ts';
import { taskFiles } from './task-files.ts';

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
 * The index of what a node's answer is built from: the node itself, its own tasks, the cluster's
 * ingress ports and the tasks behind them, the mesh, the names on its tasks' networks (for a node
 * with no overlay task, an empty read of its own tasks), and its log requests. It rises exactly
 * when the node's answer may differ, and is never 0 (the node row's version is at least the index it joined at): a long-poll with
 * index 0 does not wait, so an idle node answered with 0 would poll in a busy loop.
 *
 * Every waiting long-poll asks this again whenever its cluster's index moves, so it is one
 * statement that reads indexes, not rows.
 */
export async function assignmentsIndex(db: Reader, clusterId: string, nodeId: string): Promise<number> {
  const [row] = await db.all<{ idx: number | null }>(sql`
    select max(
      coalesce((select max(version) from tasks where node_id = ${nodeId}), 0),
      coalesce((select version from nodes where id = ${nodeId}), 1),
      coalesce((select ingress_index from clusters where id = ${clusterId}), 0),
      coalesce((select mesh_index from clusters where id = ${clusterId}), 0),
      coalesce((
        select max(n.names_index) from networks n
        where n.id in (
          select json_extract(a.value, '$.networkId') from tasks t, json_each(t.networks) a
          where t.node_id = ${nodeId} and t.networks is not null and t.state in ${holding})
      ), 0),
      coalesce((
        select max(t.version) from tasks t
        where t.cluster_id = ${clusterId} and t.service_id in (${ingressPublished(sql`${clusterId}`)})
      ), 0)
    ) as idx`);
  return Math.max(row?.idx ?? 1, await logRequestsIndex(db, clusterId, nodeId));
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

/** The complete set of a node's tasks: what to run, and what to stop and remove. */
export async function nodeAssignments(
  db: Reader,
  clusterId: string,
  nodeId: string,
  timing: { heartbeatPeriodMs: number; taskDrainMs: number; controlPlaneUrls: string[] },
  /** Opens the secrets the node's tasks are to be given. */
  kek: KeyRing,
  /** The node's index when the caller just read it; it is read before the tasks either way. */
  knownIndex?: number,
): Promise<AssignmentsResponse> {
  const now = Date.now();
  const index = knownIndex ?? (await assignmentsIndex(db, clusterId, nodeId));
  // Finished tasks the control plane no longer wants stay out (the agent removes their containers),
  // so a node's history is not read, and only the columns the answer carries are.
  const rows = await db
    .select({
      id: tasks.id,
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
        eq(tasks.nodeId, nodeId),
        eq(tasks.clusterId, clusterId),
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
  const ingress = await ingressServices(db, clusterId);
  const ingressNetwork = rows.some((t) => t.networks?.length) || ingress.length ? await ingressNetworkId(db, clusterId) : undefined;
  const templated = new Set(rows.filter((t) => hasTemplates(t.spec)).map((t) => t.id));
  const node = templated.size ? await db.query.nodes.findFirst({ where: eq(nodes.id, nodeId) }) : undefined;
  const files = await taskFiles(db, kek, clusterId, rows);
  const assignments = rows.map((t) => ({
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
  }));

  const backends = ingress.length
    ? await db
        .select({ taskId: tasks.id, serviceId: tasks.serviceId, nodeId: tasks.nodeId, networks: tasks.networks })
        .from(tasks)
        .where(and(inArray(tasks.serviceId, ingress.map((s) => s.id)), eq(tasks.state, 'running'), eq(tasks.desiredState, 'running')))
    : [];
  return {
    index,
    nodeId,
    heartbeatPeriodMs: timing.heartbeatPeriodMs,
    controlPlaneUrls: timing.controlPlaneUrls,
    tasks: assignments,
    ingress: ingress.map((s) => ({
      serviceId: s.id,
      ports: s.ports,
      backends: backends
        .filter((b) => b.serviceId === s.id)
        .map((b) => {
          const held = b.networks?.find((n) => n.networkId === ingressNetwork);
          const address = held && addressOf(held.address);
          return { taskId: b.taskId, nodeId: b.nodeId!, ...(address ? { address } : {}) };
        }),
    })),
    logRequests: await nodeLogRequests(db, clusterId, nodeId),
    mesh: await meshView(db, clusterId, nodeId, rows, ingress.length ? ingressNetwork : undefined),
    names: await namesView(db, clusterId, rows, ingressNetwork),
  };
}
