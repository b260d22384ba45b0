/**
 * The reaper: what a pass removes rather than reconciles. Finished tasks beyond a slot's history
 * (swarmkit's task reaper), and the tasks of services that no longer exist.
 */
import { inArray } from 'drizzle-orm';
import { isTerminal, tasks } from '../db/schema/index.ts';
import { restartPolicyOf } from '../swarm/service-spec.ts';
import type { ClusterState, TaskSummary } from './cluster-state.ts';
import { chunks, type Pass } from './pass.ts';
import { isLive } from './reconcile.ts';

/** Live tasks whose service was removed: no plan covers them, so the pass stops them itself. */
export function liveTasksOfRemovedServices(state: ClusterState): string[] {
  const known = new Set(state.services.map((s) => s.id));
  return state.tasks.filter((t) => !known.has(t.serviceId) && isLive(t)).map((t) => t.id);
}

/**
 * Keeps the newest `keep` finished tasks per slot (Docker's task history), and drops the rest. A
 * slot whose restart policy counts attempts keeps enough history to count them. Deleting them
 * raises no node's assignments index: no one is woken for it.
 */
export async function trimHistory(pass: Pass, keep: number): Promise<void> {
  const { state } = pass;
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
  for (const ids of chunks(doomed)) await pass.tx.delete(tasks).where(inArray(tasks.id, ids));
}
