/**
 * When the overlay mesh changes for someone: a task address given or freed, or a node holding
 * addresses gone, back, or rejoined with a new address or key. Only then do other nodes' peer
 * lists differ, so only then is every node's assignments index raised and every long-poll woken.
 */
import { and, eq, inArray, isNotNull, type SQL, sql } from 'drizzle-orm';
import type { Reader, Tx } from '../db/database.ts';
import { clusters, HOLDING_STATES, nodes, tasks } from '../db/schema/index.ts';
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
