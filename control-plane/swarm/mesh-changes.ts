/**
 * When the overlay mesh changes for someone: a task address given or freed, or a node holding
 * addresses gone, back, or rejoined with a new address or key. Only then do other nodes' peer
 * lists differ, so only then is every node's assignments index raised and every long-poll woken.
 *
 * And when the names on a network change (a task on it starts or stops being an answer): only the
 * nodes with tasks on that network resolve them, so only that network's index is raised.
 */
import { and, eq, inArray, isNotNull, type SQL, sql } from 'drizzle-orm';
import type { Reader, Tx } from '../db/database.ts';
import { clusters, type DesiredState, HOLDING_STATES, networks, nodes, type TaskNetwork, type TaskState, tasks } from '../db/schema/index.ts';
import { wakeEveryone } from '../db/wake.ts';

export async function meshChanged(tx: Tx, clusterId: string, index: number): Promise<void> {
  await tx.update(clusters).set({ meshIndex: index }).where(eq(clusters.id, clusterId));
  wakeEveryone(tx);
}

/**
 * Whether any of these nodes is anyone's peer: it holds task addresses, or it has a mesh address
 * while some service of its cluster publishes an ingress port (every routing mesh then reaches it).
 */
export async function onMesh(db: Reader, nodeIds: string[]): Promise<boolean> {
  if (!nodeIds.length) return false;
  const [row] = await db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(inArray(tasks.nodeId, nodeIds), isNotNull(tasks.networks), inArray(tasks.state, [...HOLDING_STATES])))
    .limit(1);
  if (row) return true;
  const [addressed] = await db
    .select({ id: nodes.id })
    .from(nodes)
    .where(and(inArray(nodes.id, nodeIds), isNotNull(nodes.meshAddress), sql`exists (${ingressPublished(sql`${nodes.clusterId}`)})`))
    .limit(1);
  return addressed !== undefined;
}

/** A subquery: the IDs of a cluster's services that publish an ingress port. */
export const ingressPublished = (clusterId: SQL) => sql`
  select s.id from services s
  where s.cluster_id = ${clusterId}
    and exists (select 1 from json_each(s.endpoint_ports) p where json_extract(p.value, '$.PublishMode') = 'ingress')`;
/**
 * Whether a task is a DNS answer on its networks: running, and still wanted. A service with a
 * health check is "running" only once healthy (the agent reports starting until then, and failed
 * when unhealthy), so health needs no test of its own here.
 */
export const isNameAnswer = (t: { state: TaskState; desiredState: DesiredState }) => t.state === 'running' && t.desiredState === 'running';

/** A task's state or desired state changed from `before` to `after`: did that change what its networks resolve? */
export const changesNames = (before: { state: TaskState; desiredState: DesiredState }, after: { state: TaskState; desiredState: DesiredState }) =>
  isNameAnswer(before) !== isNameAnswer(after);

/**
 * The names on these tasks' networks changed: the networks' index rises (every node with a task on
 * them sees it in its assignments index) and the long-polls wake, since the nodes are on any host.
 */
export async function namesChanged(tx: Tx, changed: Array<{ networks: TaskNetwork[] | null }>, index: number): Promise<void> {
  const ids = [...new Set(changed.flatMap((t) => (t.networks ?? []).map((n) => n.networkId)))];
  if (!ids.length) return;
  await tx.update(networks).set({ namesIndex: index }).where(inArray(networks.id, ids));
  wakeEveryone(tx);
}
