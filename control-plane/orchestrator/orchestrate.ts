import { eq, inArray, sql } from 'drizzle-orm';
import { bumpIndex, type Tx } from '../db/database.ts';
import { wakeEveryone, wakeNodes } from '../db/wake.ts';
import { clusters, HOLDING_STATES, isTerminal, nodes, services, tasks } from '../db/schema/index.ts';
import type { TaskDemand } from '../scheduler/filters.ts';
import { parseConstraint } from '../scheduler/constraints.ts';
import { placeTasks, type PendingTask } from '../scheduler/place.ts';
import { publishesIngress } from '../swarm/ingress-ports.ts';
import { constraintsOf, hostPortsOf, maxReplicasOf, reservationsOf, restartPolicyOf, type ServiceSpec, specHashOf } from '../swarm/service-spec.ts';
import { newId } from '../ids.ts';
import { type ClusterState, loadClusterState, nodeView, schedulingNodes, type ServiceRow, type TaskSummary, taskSpecs } from './cluster-state.ts';
import { isLive, reconcileService } from './reconcile.ts';

export interface OrchestrationOptions {
  /** Reconcile only this service (an API write); the leader reconciles all. */
  serviceId?: string;
  /** Place pending tasks; only the leader schedules. */
  schedule: boolean;
  /** Mark nodes down whose heartbeats stopped longer ago than this; leader only. */
  heartbeatGraceMs?: number;
  /** Terminal tasks kept per slot. */
  historyPerSlot?: number;
}

export interface OrchestrationResult {
  /** The change index this pass committed at, when it wrote anything. */
  index: number | undefined;
  /** The cluster's index this pass saw (its own, when it wrote). */
  observedIndex: number;
  wakeAt: number | undefined;
  placed: number;
}

/**
 * Records on the transaction whom a task write concerns (db/wake.ts): the task's node, or every
 * node for a task of a service publishing ingress ports, a routing-mesh backend on every node. A
 * task on no node yet concerns no one's assignments.
 */
function wakeForTask(tx: Tx, ingress: ReadonlySet<string>, serviceId: string, nodeId: string | null) {
  if (ingress.has(serviceId)) wakeEveryone(tx);
  else wakeNodes(tx, [nodeId]);
}

const CHUNK = 400; // keeps `IN (...)` lists under SQLite's variable limit

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/**
 * One orchestration pass over a cluster inside the caller's transaction: node liveness, the
 * reconcile plan of each service, placement of pending tasks, and history trimming. Reads and
 * writes share the transaction, so the decision is made on exactly the state it changes.
 */
export async function orchestrateCluster(
  tx: Tx,
  clusterId: string,
  now: number,
  opts: OrchestrationOptions,
): Promise<OrchestrationResult> {
  let index: number | undefined;
  const nextIndex = async () => (index ??= await bumpIndex(tx, clusterId));
  const [cluster] = await tx.select({ changeIndex: clusters.changeIndex, spec: clusters.spec }).from(clusters).where(eq(clusters.id, clusterId));
  const state = await loadClusterState(tx, clusterId, opts.serviceId);
  // Ingress services as this transaction sees them; a task of a removed one is no one's backend
  // any more and concerns its own node only.
  const ingress = new Set(state.services.filter(publishesIngress).map((s) => s.id));
  // The pass says whom its writes concern: one that changes no node's tasks wakes no one.
  wakeNodes(tx, []);

  if (opts.heartbeatGraceMs !== undefined) await markSilentNodesDown(tx, state, now - opts.heartbeatGraceMs, now, nextIndex);

  const views = state.nodes.map(nodeView);
  const tasksByService = new Map<string, TaskSummary[]>();
  for (const t of state.tasks) {
    const list = tasksByService.get(t.serviceId) ?? [];
    list.push(t);
    tasksByService.set(t.serviceId, list);
  }

  let wakeAt: number | undefined;
  const toStop: string[] = [];
  const toCreate: Array<{ service: (typeof state.services)[number]; slots: Array<[id: string, slot: number, nodeId: string | null]> }> = [];
  for (const service of state.services) {
    const plan = reconcileService(service, tasksByService.get(service.id) ?? [], views, now);
    if (plan.wakeAt) wakeAt = Math.min(wakeAt ?? Infinity, plan.wakeAt);
    toStop.push(...plan.shutdown.map((s) => s.taskId));
    if (plan.create.length) toCreate.push({ service, slots: plan.create.map((slot) => [newId(), slot.slot, slot.nodeId]) });
    // The reconciler rolls back only when there is a previous spec to go back to.
    if (plan.rollback && service.previousSpec) {
      // The failed update's own FailureAction: back to the previous spec, as `docker service rollback` would.
      const previous = service.previousSpec;
      await tx
        .update(services)
        .set({ spec: previous, previousSpec: service.spec, specHash: specHashOf(previous), updateStatus: plan.updateStatus, version: await nextIndex(), updatedAt: now })
        .where(eq(services.id, service.id));
    } else if (plan.updateStatus !== undefined) {
      await tx
        .update(services)
        .set({ updateStatus: plan.updateStatus, version: await nextIndex(), updatedAt: now })
        .where(eq(services.id, service.id));
    }
  }
  // Tasks whose service was removed stop too (only a whole-cluster pass sees them).
  if (!opts.serviceId) {
    const known = new Set(state.services.map((s) => s.id));
    for (const t of state.tasks) if (!known.has(t.serviceId) && isLive(t)) toStop.push(t.id);
  }

  if (toStop.length) {
    const version = await nextIndex();
    // A task never assigned has no agent to report it stopped: it is shut down here and now.
    for (const ids of chunks(toStop)) {
      await tx
        .update(tasks)
        .set({
          desiredState: 'shutdown',
          state: sql`case when ${tasks.state} in ('new', 'pending') then 'shutdown' else ${tasks.state} end`,
          version,
          updatedAt: now,
        })
        .where(inArray(tasks.id, ids));
    }
    const stopped = new Set(toStop);
    for (const t of state.tasks) {
      if (!stopped.has(t.id)) continue;
      wakeForTask(tx, ingress, t.serviceId, t.nodeId);
      t.desiredState = 'shutdown';
      if (t.state === 'new' || t.state === 'pending') t.state = 'shutdown';
    }
  }
  if (toCreate.length) {
    const version = await nextIndex();
    // One statement per service: the spec is bound once, the slots come as one JSON array.
    for (const { service, slots } of toCreate) {
      await tx.run(sql`
        insert into tasks (id, cluster_id, service_id, slot, node_id, spec, spec_hash, desired_state, state, message,
          status_at, version, created_at, updated_at)
        select json_extract(value, '$[0]'), ${clusterId}, ${service.id}, json_extract(value, '$[1]'), json_extract(value, '$[2]'),
          ${JSON.stringify(service.spec.TaskTemplate ?? {})}, ${service.specHash}, 'running', 'pending',
          'pending task scheduling', ${now}, ${version}, ${now}, ${now}
        from json_each(${JSON.stringify(slots)})`);
      for (const [id, slot, nodeId] of slots) {
        // A global task names its node at once: not in that node's answer yet, but in its index.
        wakeForTask(tx, ingress, service.id, nodeId);
        state.tasks.push({
          id,
          serviceId: service.id,
          slot,
          nodeId,
          specHash: service.specHash,
          desiredState: 'running',
          state: 'pending',
          err: null,
          statusAt: now,
          createdAt: now,
        });
      }
    }
  }

  const placed = opts.schedule ? await scheduleTasks(tx, state, now, nextIndex, ingress) : 0;
  // Deleting old tasks raises no node's assignments index: no one to wake for it.
  if (opts.historyPerSlot !== undefined) {
    // `docker swarm update --task-history-limit N` sets it per cluster; the config is the default.
    const limit = cluster?.spec.Orchestration?.TaskHistoryRetentionLimit;
    await trimHistory(tx, state, typeof limit === 'number' && limit >= 0 ? limit : opts.historyPerSlot);
  }
  return { index, observedIndex: index ?? cluster?.changeIndex ?? 0, wakeAt, placed };
}

async function markSilentNodesDown(tx: Tx, state: ClusterState, cutoff: number, now: number, nextIndex: () => Promise<number>) {
  const silent = state.nodes.filter((n) => n.state !== 'down' && (n.lastHeartbeatAt ?? n.createdAt) < cutoff);
  if (!silent.length) return;
  const version = await nextIndex();
  await tx
    .update(nodes)
    .set({ state: 'down', stateMessage: 'heartbeat failure', version, updatedAt: now })
    .where(inArray(nodes.id, silent.map((n) => n.id)));
  for (const n of silent) n.state = 'down';
  // A node's own row changed: part of its own answer's index only.
  wakeNodes(tx, silent.map((n) => n.id));
}

/**
 * The service spec a task was made from, for its host ports (tasks keep only the task template):
 * the current spec, or the previous one when the task predates an update (as the old task of a
 * start-first update does). Older than that, the current spec is the best guess.
 */
function endpointSpecFor(service: ServiceRow, taskSpecHash: string): ServiceSpec {
  const previous = service.previousSpec;
  if (service.specHash !== taskSpecHash && previous && specHashOf(previous) === taskSpecHash) return previous;
  return service.spec;
}

/** Places every pending task it can, in one pass; explains the rest on the task (Status.Err). */
async function scheduleTasks(tx: Tx, state: ClusterState, now: number, nextIndex: () => Promise<number>, ingress: ReadonlySet<string>) {
  const serviceById = new Map(state.services.map((s) => [s.id, s]));
  const pendingRows = state.tasks
    .filter((t) => t.desiredState === 'running' && (t.state === 'pending' || t.state === 'new') && serviceById.has(t.serviceId))
    .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : a.slot - b.slot));
  if (!pendingRows.length) return 0;

  // A task's demand comes from the spec it was made with: the service's TaskTemplate for tasks of
  // its current spec, a stored task's spec for the few older ones still holding a node.
  const older = new Map<string, { serviceId: string; specHash: string }>();
  for (const t of state.tasks) {
    if (!t.nodeId || !HOLDING_STATES.has(t.state) || serviceById.get(t.serviceId)?.specHash === t.specHash) continue;
    older.set(`${t.serviceId}/${t.specHash}`, { serviceId: t.serviceId, specHash: t.specHash });
  }
  const olderSpecs = await taskSpecs(tx, [...older.values()]);
  const demands = new Map<string, TaskDemand>();
  const demandOf = (t: TaskSummary): TaskDemand => {
    const key = `${t.serviceId}/${t.specHash}`;
    let demand = demands.get(key);
    if (!demand) {
      const service = serviceById.get(t.serviceId);
      const spec = (service?.specHash === t.specHash ? service.spec.TaskTemplate : olderSpecs.get(key)) ?? {};
      const r = reservationsOf(spec);
      demand = {
        serviceId: t.serviceId,
        nanoCpus: r.nanoCpus,
        memoryBytes: r.memoryBytes,
        constraints: constraintsOf(spec).map(parseConstraint),
        maxReplicas: maxReplicasOf(spec),
        hostPorts: service ? hostPortsOf(endpointSpecFor(service, t.specHash)) : [],
      };
      demands.set(key, demand);
    }
    return demand;
  };

  const pending: PendingTask[] = pendingRows.map((t) => ({
    id: t.id,
    demand: demandOf(t),
    // A global task is made for its node and is checked against that node alone.
    nodeId: t.nodeId,
  }));
  const { assigned, unplaced } = placeTasks(pending, schedulingNodes(state, demandOf));

  const rowById = new Map(pendingRows.map((t) => [t.id, t]));
  const byReason = new Map<string, string[]>();
  for (const u of unplaced) {
    if (rowById.get(u.taskId)?.err === u.reason) continue; // unchanged: no write, no index bump
    const ids = byReason.get(u.reason);
    if (ids) ids.push(u.taskId);
    else byReason.set(u.reason, [u.taskId]);
  }
  if (!assigned.length && !byReason.size) return 0;
  const version = await nextIndex();
  for (const a of assigned) wakeForTask(tx, ingress, rowById.get(a.taskId)!.serviceId, a.nodeId);
  // An unplaced global task already names its node; its new Status.Err raises that node's index.
  for (const ids of byReason.values()) for (const id of ids) wakeForTask(tx, ingress, rowById.get(id)!.serviceId, rowById.get(id)!.nodeId);
  // One statement per chunk of placements, each task to its own node.
  for (const part of chunks(assigned)) {
    const pairs = sql.join(
      part.map((a) => sql`(${a.taskId}, ${a.nodeId})`),
      sql`, `,
    );
    await tx.run(sql`
      update tasks set node_id = m.column2, state = 'assigned', message = 'scheduler assigned task to node', err = null,
        status_at = ${now}, version = ${version}, updated_at = ${now}
      from (values ${pairs}) as m
      where tasks.id = m.column1`);
  }
  for (const [reason, ids] of byReason) {
    for (const part of chunks(ids)) {
      await tx.update(tasks).set({ err: reason, statusAt: now, version, updatedAt: now }).where(inArray(tasks.id, part));
    }
  }
  return assigned.length;
}

/**
 * Keeps the newest `keep` finished tasks per slot (Docker's task history), and drops the rest. A
 * slot whose restart policy counts attempts keeps enough history to count them.
 */
async function trimHistory(tx: Tx, state: ClusterState, keep: number) {
  const bySlot = new Map<string, TaskSummary[]>();
  const keepFor = new Map(state.services.map((s) => [s.id, Math.max(keep, restartPolicyOf(s.spec).maxAttempts + 1)]));
  const reachable = new Set(state.nodes.filter((n) => n.state !== 'down').map((n) => n.id));
  const doomed: string[] = [];
  for (const t of state.tasks) {
    if (isLive(t)) continue;
    const nodeGone = !t.nodeId || !reachable.has(t.nodeId);
    if (!keepFor.has(t.serviceId)) {
      // A removed service's tasks go once their container is gone (or cannot be reached).
      if (isTerminal(t.state) || nodeGone) doomed.push(t.id);
      continue;
    }
    if (!isTerminal(t.state) && !nodeGone) continue;
    const key = `${t.serviceId}/${t.slot}/${t.slot === 0 ? t.nodeId : ''}`;
    const list = bySlot.get(key);
    if (list) list.push(t);
    else bySlot.set(key, [t]);
  }
  for (const list of bySlot.values()) {
    const limit = keepFor.get(list[0]!.serviceId)!;
    if (list.length <= limit) continue;
    list.sort((a, b) => b.createdAt - a.createdAt);
    doomed.push(...list.slice(limit).map((t) => t.id));
  }
  for (const ids of chunks(doomed)) await tx.delete(tasks).where(inArray(tasks.id, ids));
}
