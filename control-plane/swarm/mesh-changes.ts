/**
 * When the overlay mesh changes for someone: a task address given or freed, or a node holding
 * addresses gone, back, or rejoined with a new address or key. Only then do other nodes' peer
 * lists differ, so only then is every node's assignments index raised and every long-poll woken.
 */
import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import type { Reader, Tx } from '../db/database.ts';
import { clusters, HOLDING_STATES, tasks } from '../db/schema/index.ts';
import { wakeEveryone } from '../db/wake.ts';

export async function meshChanged(tx: Tx, clusterId: string, index: number): Promise<void> {
  await tx.update(clusters).set({ meshIndex: index }).where(eq(clusters.id, clusterId));
  wakeEveryone(tx);
}

/** Whether any of these nodes holds task addresses: only then are they anyone's peers. */
export async function onMesh(db: Reader, nodeIds: string[]): Promise<boolean> {
  if (!nodeIds.length) return false;
  const [row] = await db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(inArray(tasks.nodeId, nodeIds), isNotNull(tasks.networks), inArray(tasks.state, [...HOLDING_STATES])))
    .limit(1);
  return row !== undefined;
}
