/** Operators' changes to nodes (`docker node update`, `docker node rm`), each one decision in the caller's transaction. */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { bumpIndex, type Tx } from '../db/database.ts';
import { type NodeSpec, nodes, tasks } from '../db/schema/index.ts';
import { ApiError } from '../errors.ts';
import { changed, recordEvent } from '../events/record.ts';
import { meshChanged, namesChanged, onMesh } from '../swarm/mesh-changes.ts';
import { nodeName } from '../events/swarm-objects.ts';
import type { NodeRow } from '../orchestrator/cluster-state.ts';

export async function updateNode(tx: Tx, node: NodeRow, spec: NodeSpec, now: number): Promise<void> {
  const index = await bumpIndex(tx, node.clusterId);
  await tx
    .update(nodes)
    .set({ spec, availability: spec.Availability, version: index, updatedAt: now })
    .where(eq(nodes.id, node.id));
  await recordEvent(tx, node.clusterId, now, {
    type: 'node',
    action: 'update',
    actorId: node.id,
    attributes: { name: spec.Name || node.hostname, ...changed('availability', node.availability, spec.Availability) },
  });
}

/** Removes a node (a live one only with force): its credentials die with the row; its tasks are orphaned and replaced by the next pass. */
export async function removeNode(tx: Tx, node: NodeRow, force: boolean, now: number): Promise<void> {
  if (node.state !== 'down' && !force) {
    throw new ApiError('precondition', `node ${node.hostname} is not down and can't be removed; stop its agent first or use --force`);
  }
  const index = await bumpIndex(tx, node.clusterId);
  if (await onMesh(tx, [node.id])) await meshChanged(tx, node.clusterId, index);
  await tx.delete(nodes).where(eq(nodes.id, node.id));
  const orphaned = await tx
    .update(tasks)
    .set({
      desiredState: 'shutdown',
      state: sql`case when ${tasks.state} in ('complete','shutdown','failed','rejected') then ${tasks.state} else 'orphaned' end`,
      version: index,
      updatedAt: now,
    })
    .where(and(eq(tasks.nodeId, node.id), inArray(tasks.desiredState, ['running', 'ready'])))
    .returning({ networks: tasks.networks });
  await namesChanged(tx, orphaned, index);
  await recordEvent(tx, node.clusterId, now, { type: 'node', action: 'remove', actorId: node.id, attributes: { name: nodeName(node) } });
}
