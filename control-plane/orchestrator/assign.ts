/**
 * Assignment: the pass's pending tasks go through the scheduler (scheduler/place.ts) onto nodes,
 * and a task it cannot place says why on the task (Status.Err), as swarmkit's pipeline does.
 */
import { inArray, sql } from 'drizzle-orm';
import { HOLDING_STATES, tasks } from '../db/schema/index.ts';
import { parseConstraint } from '../scheduler/constraints.ts';
import type { TaskDemand } from '../scheduler/filters.ts';
import { type PendingTask, placeTasks } from '../scheduler/place.ts';
import { constraintsOf, hostPortsOf, maxReplicasOf, spreadOf, reservationsOf, type ServiceSpec, specHashOf } from '../swarm/service-spec.ts';
import { type ServiceRow, schedulingNodes, type TaskSummary, taskSpecs } from './cluster-state.ts';
import { planAddresses, writeAddresses } from './addresses.ts';
import { chunks, type Pass } from './pass.ts';

/** Places every pending task it can, in one go; returns how many it placed. */
export async function assignPendingTasks(pass: Pass): Promise<number> {
  const { state, now } = pass;
  const serviceById = new Map(state.services.map((s) => [s.id, s]));
  const pendingRows = state.tasks
    .filter((t) => t.desiredState === 'running' && (t.state === 'pending' || t.state === 'new') && serviceById.has(t.serviceId))
    .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : a.slot - b.slot));
  if (!pendingRows.length) return 0;

  const demandOf = await demands(pass, serviceById);
  const pending: PendingTask[] = pendingRows.map((t) => ({
    id: t.id,
    demand: demandOf(t),
    // A global task is made for its node and is checked against that node alone.
    nodeId: t.nodeId,
  }));
  const placement = placeTasks(pending, schedulingNodes(state, demandOf));

  const rowById = new Map(pendingRows.map((t) => [t.id, t]));
  // A task goes to its node with its network addresses, or not at all (and says why).
  const addresses = await planAddresses(pass, placement.assigned.map((a) => ({ taskId: a.taskId, service: serviceById.get(rowById.get(a.taskId)!.serviceId)! })));
  const assigned = placement.assigned.filter((a) => !addresses.refused.has(a.taskId));
  const unplaced = [...placement.unplaced, ...[...addresses.refused].map(([taskId, reason]) => ({ taskId, reason }))];
  const byReason = new Map<string, TaskSummary[]>();
  for (const u of unplaced) {
    const row = rowById.get(u.taskId);
    if (!row || row.err === u.reason) continue; // unchanged: no write, no index bump
    const rows = byReason.get(u.reason);
    if (rows) rows.push(row);
    else byReason.set(u.reason, [row]);
  }
  if (!assigned.length && !byReason.size) return 0;
  const version = await pass.version();
  pass.tasksWritten(assigned.map((a) => ({ serviceId: rowById.get(a.taskId)!.serviceId, nodeId: a.nodeId })));
  // An unplaced global task already names its node; its new Status.Err raises that node's index.
  for (const rows of byReason.values()) pass.tasksWritten(rows);
  // One statement per chunk of placements, each task to its own node.
  for (const part of chunks(assigned)) {
    const pairs = sql.join(
      part.map((a) => sql`(${a.taskId}, ${a.nodeId})`),
      sql`, `,
    );
    await pass.tx.run(sql`
      update tasks set node_id = m.column2, state = 'assigned', message = 'scheduler assigned task to node', err = null,
        status_at = ${now}, version = ${version}, updated_at = ${now}
      from (values ${pairs}) as m
      where tasks.id = m.column1`);
  }
  await writeAddresses(pass, addresses);
  for (const [reason, rows] of byReason) {
    for (const part of chunks(rows.map((t) => t.id))) {
      await pass.tx.update(tasks).set({ err: reason, statusAt: now, version, updatedAt: now }).where(inArray(tasks.id, part));
    }
  }
  return assigned.length;
}

/**
 * What each task asks of its node, from the spec it was made with: the service's TaskTemplate for
 * tasks of its current spec, a stored task's spec for the few older ones still holding a node.
 */
async function demands(pass: Pass, serviceById: Map<string, ServiceRow>): Promise<(t: TaskSummary) => TaskDemand> {
  const older = new Map<string, { serviceId: string; specHash: string }>();
  for (const t of pass.state.tasks) {
    if (!t.nodeId || !HOLDING_STATES.has(t.state) || serviceById.get(t.serviceId)?.specHash === t.specHash) continue;
    older.set(`${t.serviceId}/${t.specHash}`, { serviceId: t.serviceId, specHash: t.specHash });
  }
  const olderSpecs = await taskSpecs(pass.tx, [...older.values()]);
  const cache = new Map<string, TaskDemand>();
  return (t) => {
    const key = `${t.serviceId}/${t.specHash}`;
    let demand = cache.get(key);
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
        spread: spreadOf(spec),
        hostPorts: service ? hostPortsOf(endpointSpecFor(service, t.specHash)) : [],
      };
      cache.set(key, demand);
    }
    return demand;
  };
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
