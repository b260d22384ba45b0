import { explainRejections, type Filter, PIPELINE, type SchedNode, type TaskDemand } from './filters.ts';
import { SpreadGroups } from './spread.ts';

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
export function better(a: SchedNode, b: SchedNode, serviceId: string): boolean {
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

/** The feasible nodes of one demand, best first: `placed` hands back the node that took a task. */
interface NodeQueue {
  readonly size: number;
  pop(): SchedNode | undefined;
  placed(node: SchedNode): void;
}

/** A binary min-heap of nodes under `better`: the next node for a service in O(log n). */
class NodeHeap implements NodeQueue {
  private readonly items: SchedNode[] = [];
  constructor(
    nodes: SchedNode[],
    private readonly serviceId: string,
  ) {
    for (const n of nodes) this.push(n);
  }
  get size() {
    return this.items.length;
  }
  placed(node: SchedNode) {
    this.push(node);
  }
  push(node: SchedNode) {
    const a = this.items;
    a.push(node);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!better(a[i]!, a[parent]!, this.serviceId)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }
  pop(): SchedNode | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && better(a[l]!, a[m]!, this.serviceId)) m = l;
        if (r < a.length && better(a[r]!, a[m]!, this.serviceId)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The nodes under placement preferences: a task changes the counts of its node's branches, and so
 * the order of every node, so the best is found by a scan (O(n) a task) rather than kept in a heap.
 */
class SpreadQueue implements NodeQueue {
  private readonly groups: SpreadGroups;
  private readonly serviceId: string;
  constructor(
    private readonly nodes: SchedNode[],
    demand: TaskDemand,
  ) {
    this.groups = new SpreadGroups(demand.spread ?? [], nodes, demand.serviceId);
    this.serviceId = demand.serviceId;
  }
  get size() {
    return this.nodes.length;
  }
  pop(): SchedNode | undefined {
    let best = 0;
    for (let i = 1; i < this.nodes.length; i++) {
      const order = this.groups.compare(this.nodes[i]!, this.nodes[best]!);
      if (order < 0 || (order === 0 && better(this.nodes[i]!, this.nodes[best]!, this.serviceId))) best = i;
    }
    return this.nodes.splice(best, 1)[0];
  }
  placed(node: SchedNode) {
    this.groups.add(node);
    this.nodes.push(node);
  }
}

/**
 * Places tasks on nodes: a pure function over in-memory nodes, whose load it updates as it goes so
 * many tasks can be placed in one pass (and one transaction). Tasks are placed demand by demand
 * (a service at one spec), in the order each demand first appears: static filters run once per
 * demand, and the feasible nodes sit in a heap ordered by `better` (or, under placement
 * preferences, in a SpreadQueue). The dynamic filters (resources,
 * max replicas, host ports) only get stricter as tasks are added, so a node they turn away is out
 * for the rest of that demand's tasks; when none is left, the remaining tasks share one explanation.
 */
export function placeTasks(tasks: PendingTask[], nodes: SchedNode[]): Placement {
  const result: Placement = { assigned: [], unplaced: [] };
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const groups = new Map<TaskDemand, PendingTask[]>();
  for (const task of tasks) {
    const group = groups.get(task.demand);
    if (group) group.push(task);
    else groups.set(task.demand, [task]);
  }

  for (const [demand, group] of groups) {
    // Tasks made for one node (global services) are checked against that node alone.
    const free: PendingTask[] = [];
    for (const task of group) {
      if (task.nodeId === null) {
        free.push(task);
        continue;
      }
      const node = byId.get(task.nodeId);
      const rejection = node ? firstRejection(PIPELINE, demand, node) : PIPELINE[0]!;
      if (node && !rejection) {
        reserve(node, demand);
        result.assigned.push({ taskId: task.id, nodeId: node.id });
      } else {
        result.unplaced.push({ taskId: task.id, reason: explainRejections(new Map([[rejection!, 1]]), 1) });
      }
    }
    if (!free.length) continue;

    const rejected = new Map<Filter, number>();
    const eligible: SchedNode[] = [];
    for (const node of nodes) {
      const filter = firstRejection(STATIC, demand, node);
      if (filter) rejected.set(filter, (rejected.get(filter) ?? 0) + 1);
      else eligible.push(node);
    }
    const queue: NodeQueue = demand.spread?.length ? new SpreadQueue(eligible, demand) : new NodeHeap(eligible, demand.serviceId);
    let i = 0;
    for (; i < free.length && queue.size; ) {
      const node = queue.pop()!;
      const filter = firstRejection(DYNAMIC, demand, node);
      if (filter) {
        rejected.set(filter, (rejected.get(filter) ?? 0) + 1);
        continue;
      }
      reserve(node, demand);
      result.assigned.push({ taskId: free[i++]!.id, nodeId: node.id });
      queue.placed(node);
    }
    if (i < free.length) {
      const reason = explainRejections(rejected, nodes.length);
      for (; i < free.length; i++) result.unplaced.push({ taskId: free[i]!.id, reason });
    }
  }
  return result;
}
