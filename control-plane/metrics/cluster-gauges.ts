import { and, count, eq, inArray, type SQL } from 'drizzle-orm';
import type { AppDeps } from '../deps.ts';
import { nodes, tasks } from '../db/schema/index.ts';
import { Gauge } from '../../protocol/metrics.ts';
import { processMemoryGauges } from './process-memory.ts';

/** Who reads the metrics: the operator sees every cluster; a tenant's key only its own. */
export type MetricsReader = { kind: 'operator' } | { kind: 'tenant'; clusterId: string };

/**
 * A pending reason with its counts taken out ("on 2 nodes" → "on N nodes"), so a reason is one
 * series however many nodes it names.
 */
export const reasonCategory = (reason: string | null) => (reason ?? 'unassigned').replace(/\d+/g, 'N');

/**
 * The state gauges, read from the database at scrape time: the database, not this instance's
 * memory, is what every instance and runtime agrees on. A tenant's scrape reads its cluster only.
 */
export async function clusterGauges(deps: AppDeps, reader: MetricsReader): Promise<Gauge[]> {
  const db = deps.database.db;
  const only = (column: typeof nodes.clusterId | typeof tasks.clusterId): SQL | undefined => (reader.kind === 'tenant' ? eq(column, reader.clusterId) : undefined);

  const nodesByState = new Gauge('swarmlet_nodes', 'Nodes by state (ready, down, ...) and availability.');
  const nodeRows = await db
    .select({ cluster: nodes.clusterId, state: nodes.state, availability: nodes.availability, n: count() })
    .from(nodes)
    .where(only(nodes.clusterId))
    .groupBy(nodes.clusterId, nodes.state, nodes.availability);
  for (const r of nodeRows) nodesByState.set({ cluster: r.cluster, state: r.state, availability: r.availability }, r.n);

  const tasksByState = new Gauge('swarmlet_tasks', 'Tasks by observed state and desired state (history included).');
  const taskRows = await db
    .select({ cluster: tasks.clusterId, state: tasks.state, desired: tasks.desiredState, n: count() })
    .from(tasks)
    .where(only(tasks.clusterId))
    .groupBy(tasks.clusterId, tasks.state, tasks.desiredState);
  for (const r of taskRows) tasksByState.set({ cluster: r.cluster, state: r.state, desired_state: r.desired }, r.n);

  const pending = new Gauge('swarmlet_tasks_pending', 'Tasks waiting for a node, by the scheduler\'s reason (counts replaced by N).');
  const pendingRows = await db
    .select({ cluster: tasks.clusterId, reason: tasks.err, n: count() })
    .from(tasks)
    .where(and(eq(tasks.state, 'pending'), inArray(tasks.desiredState, ['running', 'ready']), only(tasks.clusterId)))
    .groupBy(tasks.clusterId, tasks.err);
  for (const r of pendingRows) pending.inc({ cluster: r.cluster, reason: reasonCategory(r.reason) }, r.n);

  return [nodesByState, tasksByState, pending, ...(reader.kind === 'operator' ? [...(await leaseGauges(deps)), ...processMemoryGauges()] : [])];
}

/** The leader lease: the operator's alone (it names instances, not tenants' objects). */
async function leaseGauges(deps: AppDeps): Promise<Gauge[]> {
  const lease = await deps.leaseHolder();
  const epoch = new Gauge('swarmlet_leader_lease_epoch', 'Epoch of the live leader lease (rises each time the holder changes).');
  const holder = new Gauge('swarmlet_leader_lease_holder', 'The instance holding the live leader lease (1), and whether it is this one.');
  if (lease) {
    epoch.set({}, lease.epoch);
    holder.set({ holder: lease.holder, self: String(lease.holder === deps.config.instanceId) }, 1);
  }
  return [epoch, holder];
}
