import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { tasks } from '../db/schema/index.ts';
import { holding } from './assignments.ts';
import { ingressNetworkId } from './mesh.ts';

/** The most task IDs one question may name. */
export const DRAINS_MAX_TASKS = 100;

/**
 * Of a node's tasks that drain (to stop, still running, on overlay networks), those no host sends
 * new connections to any more. The write that decided a task's stop took it out of names, virtual
 * IPs and routing meshes at its version; a host has let it go once it reports an applied index at
 * or past that version (an index only exists once its commit does, so the answer it applied was
 * read after the removal). The hosts that must have: every ready node with a task on one of the
 * task's networks (they alone resolve its names and hold its VIP rules), the task's own included;
 * every ready node when the task is on the ingress network (every routing mesh reaches it).
 *
 * A node that is down or gone routes nothing and is not waited for; one that is silent but not yet
 * down holds the drain up to its bound (the assignment's drainMs), which the agent keeps.
 */
export async function drainedTasks(db: Reader, clusterId: string, nodeId: string, taskIds: string[]): Promise<string[]> {
  const draining = await db
    .select({ id: tasks.id, version: tasks.version, networks: tasks.networks })
    .from(tasks)
    .where(and(eq(tasks.clusterId, clusterId), eq(tasks.nodeId, nodeId), inArray(tasks.id, taskIds), eq(tasks.state, 'running'), sql`${tasks.desiredState} not in ('running', 'ready')`));
  if (!draining.length) return [];
  const ingress = await ingressNetworkId(db, clusterId);
  const drained: string[] = [];
  for (const t of draining) {
    const networkIds = (t.networks ?? []).map((n) => n.networkId);
    const everyNode = ingress !== undefined && networkIds.includes(ingress);
    const ids = sql`(${sql.join(networkIds.map((id) => sql`${id}`), sql`, `)})`;
    // Not a backend anywhere: nothing to wait for.
    const [behind] = !networkIds.length
      ? [{ n: 0 }]
      : await db.all<{ n: number }>(sql`
          select count(*) as n from nodes n
          where n.cluster_id = ${clusterId} and n.state = 'ready' and n.applied_index < ${t.version}
            and (${everyNode ? 1 : 0} = 1 or n.id = ${nodeId} or exists (
              select 1 from tasks o, json_each(o.networks) a
              where o.node_id = n.id and o.networks is not null and o.state in ${holding}
                and json_extract(a.value, '$.networkId') in ${ids}))`);
    if (!behind?.n) drained.push(t.id);
  }
  return drained;
}
