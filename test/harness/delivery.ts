/**
 * Delivery of tasks to simulated agents at scale: when each agent's long-poll first held a task of
 * a service, and, for those still waiting, whether that service's task for their node is unplaced
 * or placed and not delivered (the database against the agent's last answer).
 */
import { createClient } from '@libsql/client';
import { join } from 'node:path';
import type { SimAgent } from './sim-agent.ts';

/** The first long-poll answer after `since` holding a task of `serviceId`, if any yet. */
export function deliveredAt(agent: SimAgent, serviceId: string, since: number): number | undefined {
  return agent.polls.find((p) => p.at > since && p.services.has(serviceId))?.at;
}

/** Resolves once every agent has been answered with a task of `serviceId`; the latencies from `since`, sorted. */
export async function awaitDelivery(agents: SimAgent[], serviceId: string, since: number, timeoutMs: number): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  while (agents.some((a) => deliveredAt(a, serviceId, since) === undefined)) {
    if (performance.now() > deadline) {
      const waiting = agents.filter((a) => deliveredAt(a, serviceId, since) === undefined);
      throw new Error(`${waiting.length} of ${agents.length} agents still wait for a task of ${serviceId} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return agents.map((a) => deliveredAt(a, serviceId, since)! - since).sort((x, y) => x - y);
}

/** `q` (0..1) of sorted figures. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/**
 * Why agents still wait for a task of `serviceId`: per agent, its node and that service's tasks on
 * it in the database, and its last answer (index, whether it held such a task, how long ago).
 */
export async function explainWaiting(dataDir: string, agents: SimAgent[], serviceId: string, since: number): Promise<string> {
  const waiting = agents.filter((a) => deliveredAt(a, serviceId, since) === undefined);
  const db = createClient({ url: `file:${join(dataDir, 'control-plane.db')}` });
  try {
    const lines = [`${waiting.length} of ${agents.length} agents wait for a task of ${serviceId}`];
    const unplaced = await db.execute({ sql: `select err, count(*) as n from tasks where service_id = ? and node_id is null and desired_state = 'running' group by err`, args: [serviceId] });
    lines.push(`unplaced: ${JSON.stringify(unplaced.rows)}`);
    const nodeStates = await db.execute(`select state, state_message, count(*) as n from nodes group by 1, 2`);
    lines.push(`nodes: ${JSON.stringify(nodeStates.rows)}`);
    for (const a of waiting.slice(0, 5)) {
      const [node] = (await db.execute({ sql: `select state, version, last_heartbeat_at from nodes where id = ?`, args: [a.nodeId] })).rows;
      const own = await db.execute({ sql: `select state, desired_state, version from tasks where node_id = ? and service_id = ?`, args: [a.nodeId, serviceId] });
      const last = a.polls.at(-1);
      lines.push(
        `node ${a.nodeId} ${JSON.stringify(node)}: its tasks of the service ${JSON.stringify(own.rows)}; the agent's index ${a.index}, ` +
          `last answer ${last ? `${(performance.now() - last.at).toFixed(0)} ms ago, ${last.tasks} tasks` : 'none'}, ${a.polls.filter((p) => p.at > since).length} answers since; ` +
          `refused ${JSON.stringify(Object.fromEntries(a.refusals))}`,
      );
    }
    return lines.join('\n');
  } finally {
    db.close();
  }
}

/** The nodes ever marked down in the cluster's recorded events, with when (the leader's events). */
export async function nodesMarkedDown(dataDir: string): Promise<Array<{ node: string; at: number }>> {
  const db = createClient({ url: `file:${join(dataDir, 'control-plane.db')}` });
  try {
    const rows = await db.execute(`select actor_id, time from events where type = 'node' and json_extract(attributes, '$."state.new"') = 'down'`);
    return rows.rows.map((r) => ({ node: String(r.actor_id), at: Number(r.time) }));
  } finally {
    db.close();
  }
}
