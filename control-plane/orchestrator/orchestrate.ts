import { eq, inArray } from 'drizzle-orm';
import { bumpIndex, type Tx } from '../db/database.ts';
import { nodes, services, tasks } from '../db/schema/index.ts';
import type { TaskDemand } from '../scheduler/filters.ts';
import { parseConstraint } from '../scheduler/constraints.ts';
import { placeTasks, type PendingTask } from '../scheduler/place.ts';
import { constraintsOf, hostPortsOf, maxReplicasOf, reservationsOf, type ServiceSpec } from '../swarm/service-spec.ts';
import { newId } from '../ids.ts';
import { type ClusterState, loadClusterState, nodeView, schedulingNodes, type TaskRow } from './cluster-state.ts';
import { isLive, isTerminal, reconcileService } from './reconcile.ts';

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
  wakeAt: number | undefined;
  placed: number;
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
  const state = await loadClusterState(tx, clusterId, opts.serviceId);

  if (opts.heartbeatGraceMs !== undefined) await markSilentNodesDown(tx, state, now - opts.heartbeatGraceMs, nextIndex);

  const views = state.nodes.map(nodeView);
  const tasksByService = new Map<string, TaskRow[]>();
  for (const t of state.tasks) {
    const list = tasksByService.get(t.serviceId) ?? [];
    list.push(t);
    tasksByService.set(t.serviceId, list);
  }

  let wakeAt: number | undefined;
  const toStop: string[] = [];
  const toCreate: (typeof tasks.$inferInsert)[] = [];
  for (const service of state.services) {
    const plan = reconcileService(service, tasksByService.get(service.id) ?? [], views, now);
    if (plan.wakeAt) wakeAt = Math.min(wakeAt ?? Infinity, plan.wakeAt);
    toStop.push(...plan.shutdown.map((s) => s.taskId));
    for (const slot of plan.create) {
      toCreate.push({
        id: newId(),
        clusterId,
        serviceId: service.id,
        slot: slot.slot,
        nodeId: slot.nodeId,
        spec: (service.spec as ServiceSpec).TaskTemplate ?? {},
        specHash: service.specHash,
        desiredState: 'running',
        state: 'pending',
        message: 'pending task scheduling',
        statusAt: now,
        version: 0,
        createdAt: now,
        updatedAt: now,
      });
    }
    if (plan.updateStatus !== undefined) {
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
    for (const ids of chunks(toStop)) {
      await tx.update(tasks).set({ desiredState: 'shutdown', version, updatedAt: now }).where(inArray(tasks.id, ids));
    }
    const stopped = new Set(toStop);
    for (const t of state.tasks) if (stopped.has(t.id)) t.desiredState = 'shutdown';
  }
  if (toCreate.length) {
    const version = await nextIndex();
    for (const rows of chunks(toCreate)) {
      for (const row of rows) row.version = version;
      await tx.insert(tasks).values(rows);
    }
    state.tasks.push(...(toCreate as TaskRow[]).map((t) => ({ ...t, err: null, containerStatus: null, portStatus: null })));
  }

  const placed = opts.schedule ? await scheduleTasks(tx, state, now, nextIndex) : 0;
  if (opts.historyPerSlot !== undefined) await trimHistory(tx, state, opts.historyPerSlot);
  return { index, wakeAt, placed };
}

async function markSilentNodesDown(tx: Tx, state: ClusterState, cutoff: number, nextIndex: () => Promise<number>) {
  const silent = state.nodes.filter((n) => n.state !== 'down' && (n.lastHeartbeatAt ?? n.createdAt) < cutoff);
  if (!silent.length) return;
  const version = await nextIndex();
  await tx
    .update(nodes)
    .set({ state: 'down', stateMessage: 'heartbeat failure', version, updatedAt: cutoff })
    .where(inArray(nodes.id, silent.map((n) => n.id)));
  for (const n of silent) n.state = 'down';
}

/** Places every pending task it can, in one pass; explains the rest on the task (Status.Err). */
async function scheduleTasks(tx: Tx, state: ClusterState, now: number, nextIndex: () => Promise<number>) {
  const serviceById = new Map(state.services.map((s) => [s.id, s]));
  const demands = new Map<string, TaskDemand>();
  const demandOf = (t: TaskRow): TaskDemand => {
    const key = `${t.serviceId}/${t.specHash}`;
    let demand = demands.get(key);
    if (!demand) {
      const spec = t.spec as ServiceSpec;
      const service = serviceById.get(t.serviceId);
      const r = reservationsOf(spec);
      demand = {
        serviceId: t.serviceId,
        nanoCpus: r.nanoCpus,
        memoryBytes: r.memoryBytes,
        constraints: constraintsOf(spec).map(parseConstraint),
        maxReplicas: maxReplicasOf(spec),
        hostPorts: service ? hostPortsOf(service.spec as ServiceSpec) : [],
      };
      demands.set(key, demand);
    }
    return demand;
  };

  const pendingRows = state.tasks
    .filter((t) => t.desiredState === 'running' && (t.state === 'pending' || t.state === 'new') && serviceById.has(t.serviceId))
    .sort((a, b) => a.serviceId.localeCompare(b.serviceId) || a.slot - b.slot);
  if (!pendingRows.length) return 0;
  const pending: PendingTask[] = pendingRows.map((t) => ({
    id: t.id,
    demand: demandOf(t),
    // A global task is made for its node and is checked against that node alone.
    nodeId: t.nodeId,
  }));
  const { assigned, unplaced } = placeTasks(pending, schedulingNodes(state, demandOf));

  const byNode = new Map<string, string[]>();
  for (const a of assigned) byNode.set(a.nodeId, [...(byNode.get(a.nodeId) ?? []), a.taskId]);
  const rowById = new Map(pendingRows.map((t) => [t.id, t]));
  const byReason = new Map<string, string[]>();
  for (const u of unplaced) {
    if (rowById.get(u.taskId)?.err === u.reason) continue; // unchanged: no write, no index bump
    byReason.set(u.reason, [...(byReason.get(u.reason) ?? []), u.taskId]);
  }
  if (!byNode.size && !byReason.size) return 0;
  const version = await nextIndex();
  for (const [nodeId, ids] of byNode) {
    for (const part of chunks(ids)) {
      await tx
        .update(tasks)
        .set({ nodeId, state: 'assigned', message: 'scheduler assigned task to node', err: null, statusAt: now, version, updatedAt: now })
        .where(inArray(tasks.id, part));
    }
  }
  for (const [reason, ids] of byReason) {
    for (const part of chunks(ids)) {
      await tx.update(tasks).set({ err: reason, statusAt: now, version, updatedAt: now }).where(inArray(tasks.id, part));
    }
  }
  return assigned.length;
}

/** Keeps the newest `keep` finished tasks per slot (Docker's task history), and drops the rest. */
async function trimHistory(tx: Tx, state: ClusterState, keep: number) {
  const bySlot = new Map<string, TaskRow[]>();
  const liveServices = new Set(state.services.map((s) => s.id));
  const reachable = new Set(state.nodes.filter((n) => n.state !== 'down').map((n) => n.id));
  const doomed: string[] = [];
  for (const t of state.tasks) {
    if (isLive(t)) continue;
    const nodeGone = !t.nodeId || !reachable.has(t.nodeId);
    if (!liveServices.has(t.serviceId)) {
      // A removed service's tasks go once their container is gone (or cannot be reached).
      if (isTerminal(t.state) || nodeGone) doomed.push(t.id);
      continue;
    }
    if (!isTerminal(t.state) && !nodeGone) continue;
    const key = `${t.serviceId}/${t.slot}/${t.slot === 0 ? t.nodeId : ''}`;
    bySlot.set(key, [...(bySlot.get(key) ?? []), t]);
  }
  for (const list of bySlot.values()) {
    list.sort((a, b) => b.createdAt - a.createdAt);
    doomed.push(...list.slice(keep).map((t) => t.id));
  }
  for (const ids of chunks(doomed)) await tx.delete(tasks).where(inArray(tasks.id, ids));
}
