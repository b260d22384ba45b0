import { explainRejections, type Filter, PIPELINE, type SchedNode, type TaskDemand } from './filters.ts';

export interface PendingTask {
  id: string;
  demand: TaskDemand;
  /** Global-service tasks are made for one node; the scheduler only checks that node fits. */
  nodeId: string | null;
}

export interface Placement {
  assigned: Array<{ taskId: string; nodeId: string }>;
  unplaced: Array<{ taskId: string; reason: string }>;
}

/** Spread a service's tasks first, then fill the least-loaded node (swarmkit's order). */
function better(a: SchedNode, b: SchedNode, serviceId: string): boolean {
  const sa = a.tasksPerService.get(serviceId) ?? 0;
  const sb = b.tasksPerService.get(serviceId) ?? 0;
  if (sa !== sb) return sa < sb;
  if (a.taskCount !== b.taskCount) return a.taskCount < b.taskCount;
  return a.id < b.id;
}

function reserve(node: SchedNode, demand: TaskDemand): void {
  node.reservedCpus += demand.nanoCpus;
  node.reservedMemory += demand.memoryBytes;
  node.taskCount += 1;
  node.tasksPerService.set(demand.serviceId, (node.tasksPerService.get(demand.serviceId) ?? 0) + 1);
  for (const port of demand.hostPorts) node.hostPorts.add(port);
}

const STATIC = PIPELINE.filter((f) => f.static);
const DYNAMIC = PIPELINE.filter((f) => !f.static);

/** Runs filters in pipeline order; returns the first that rejects the node. */
function firstRejection(filters: Filter[], demand: TaskDemand, node: SchedNode): Filter | undefined {
  for (const filter of filters) if (!filter.check(demand, node)) return filter;
  return undefined;
}

/**
 * Places tasks on nodes: a pure function over in-memory nodes, whose load it updates as it goes so
 * many tasks can be placed in one pass (and one transaction). Static filters run once per demand.
 */
export function placeTasks(tasks: PendingTask[], nodes: SchedNode[]): Placement {
  const result: Placement = { assigned: [], unplaced: [] };
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const staticCache = new Map<TaskDemand, { eligible: SchedNode[]; rejected: Map<Filter, number> }>();

  for (const task of tasks) {
    const { demand } = task;
    if (task.nodeId !== null) {
      const node = byId.get(task.nodeId);
      const rejection = node ? firstRejection(PIPELINE, demand, node) : readyOnly();
      if (node && !rejection) {
        reserve(node, demand);
        result.assigned.push({ taskId: task.id, nodeId: node.id });
      } else {
        result.unplaced.push({ taskId: task.id, reason: explainRejections(new Map([[rejection!, 1]]), 1) });
      }
      continue;
    }

    let cached = staticCache.get(demand);
    if (!cached) {
      const rejected = new Map<Filter, number>();
      const eligible: SchedNode[] = [];
      for (const node of nodes) {
        const filter = firstRejection(STATIC, demand, node);
        if (filter) rejected.set(filter, (rejected.get(filter) ?? 0) + 1);
        else eligible.push(node);
      }
      cached = { eligible, rejected };
      staticCache.set(demand, cached);
    }

    let best: SchedNode | undefined;
    for (const node of cached.eligible) {
      if (best && !better(node, best, demand.serviceId)) continue;
      if (firstRejection(DYNAMIC, demand, node)) continue;
      best = node;
    }
    if (best) {
      reserve(best, demand);
      result.assigned.push({ taskId: task.id, nodeId: best.id });
      continue;
    }
    const counts = new Map(cached.rejected);
    for (const node of cached.eligible) {
      const filter = firstRejection(DYNAMIC, demand, node)!;
      counts.set(filter, (counts.get(filter) ?? 0) + 1);
    }
    result.unplaced.push({ taskId: task.id, reason: explainRejections(counts, nodes.length) });
  }
  return result;
}

function readyOnly(): Filter {
  return PIPELINE[0]!;
}
