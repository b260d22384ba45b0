import { describe, expect, it } from 'vitest';
import { parseConstraint } from '../../control-plane/scheduler/constraints.ts';
import { explainRejections, type Filter, PIPELINE, type SchedNode, type TaskDemand } from '../../control-plane/scheduler/filters.ts';
import { better, type PendingTask, type Placement, placeTasks } from '../../control-plane/scheduler/place.ts';
import { random, schedNode } from './fixtures.ts';

/** A random cluster, with some load already on it, and a random batch of pending tasks. */
function scenario(seed: number) {
  const r = random(seed);
  const nodes: SchedNode[] = Array.from({ length: r.int(0, 12) }, (_, i) => {
    const existing = r.int(0, 3);
    const node = schedNode(`n${i}`, {
      state: r.chance(0.1) ? 'down' : 'ready',
      availability: r.pick(['active', 'active', 'active', 'pause', 'drain']),
      labels: r.chance(0.5) ? { zone: r.pick(['east', 'west']) } : {},
      nanoCpus: r.int(0, 8) * 5e8,
      memoryBytes: r.int(0, 8) * 5e8,
    });
    for (let k = 0; k < existing; k++) {
      node.reservedCpus += r.int(0, 2) * 5e8;
      node.reservedMemory += r.int(0, 2) * 5e8;
      node.taskCount++;
      const svc = r.pick(['s0', 's1', 'other']);
      node.tasksPerService.set(svc, (node.tasksPerService.get(svc) ?? 0) + 1);
      if (r.chance(0.3)) node.hostPorts.add(r.pick(['tcp/80', 'tcp/443', 'udp/53']));
    }
    return node;
  });
  const demands: TaskDemand[] = Array.from({ length: r.int(1, 4) }, (_, i) => ({
    serviceId: `s${i}`,
    nanoCpus: r.int(0, 3) * 5e8,
    memoryBytes: r.int(0, 3) * 5e8,
    constraints: r.chance(0.3) ? [parseConstraint(`node.labels.zone${r.pick(['==', '!='])}east`)] : [],
    maxReplicas: r.chance(0.3) ? r.int(1, 3) : 0,
    hostPorts: r.chance(0.3) ? [r.pick(['tcp/80', 'tcp/443', 'udp/53'])] : [],
  }));
  const tasks: PendingTask[] = [];
  for (const d of demands) {
    const global = r.chance(0.2);
    for (let k = 0, n = r.int(0, 15); k < n; k++) {
      tasks.push({ id: `${d.serviceId}-${k}`, demand: d, nodeId: global && nodes.length ? r.pick(nodes).id : null });
    }
  }
  return { nodes, tasks };
}

const clone = (nodes: SchedNode[]) =>
  nodes.map((n) => ({ ...n, tasksPerService: new Map(n.tasksPerService), hostPorts: new Set(n.hostPorts) }));

/** The obvious scheduler, slow but easy to trust: scan every node for every task. */
function reference(tasks: PendingTask[], nodes: SchedNode[]): Placement {
  const out: Placement = { assigned: [], unplaced: [] };
  for (const t of tasks) {
    const candidates = t.nodeId === null ? nodes : nodes.filter((n) => n.id === t.nodeId);
    let best: SchedNode | undefined;
    for (const n of candidates) {
      if (PIPELINE.some((f) => !f.check(t.demand, n))) continue;
      if (!best || better(n, best, t.demand.serviceId)) best = n;
    }
    if (!best) {
      out.unplaced.push({ taskId: t.id, reason: '' });
      continue;
    }
    best.reservedCpus += t.demand.nanoCpus;
    best.reservedMemory += t.demand.memoryBytes;
    best.taskCount++;
    best.tasksPerService.set(t.demand.serviceId, (best.tasksPerService.get(t.demand.serviceId) ?? 0) + 1);
    for (const p of t.demand.hostPorts) best.hostPorts.add(p);
    out.assigned.push({ taskId: t.id, nodeId: best.id });
  }
  return out;
}

const SEEDS = Array.from({ length: 400 }, (_, i) => i + 1);

describe('placeTasks on random clusters', () => {
  it('never exceeds a node\'s capacity, a host port, max replicas, constraints or availability', () => {
    for (const seed of SEEDS) {
      const { nodes, tasks } = scenario(seed);
      const before = clone(nodes);
      const { assigned, unplaced } = placeTasks(tasks, nodes);
      const byId = new Map(before.map((n) => [n.id, n]));
      const demandOf = new Map(tasks.map((t) => [t.id, t.demand]));
      // Re-apply the placements one by one to the untouched copy, checking each against the rules.
      for (const a of assigned) {
        const n = byId.get(a.nodeId)!;
        const d = demandOf.get(a.taskId)!;
        const rejectedBy = PIPELINE.find((f) => !f.check(d, n));
        expect(rejectedBy?.name, `seed ${seed}: ${a.taskId} on ${a.nodeId}`).toBeUndefined();
        if (d.nanoCpus) expect(n.reservedCpus + d.nanoCpus, `seed ${seed}`).toBeLessThanOrEqual(n.nanoCpus);
        n.reservedCpus += d.nanoCpus;
        n.reservedMemory += d.memoryBytes;
        n.taskCount++;
        n.tasksPerService.set(d.serviceId, (n.tasksPerService.get(d.serviceId) ?? 0) + 1);
        for (const p of d.hostPorts) {
          expect(n.hostPorts.has(p), `seed ${seed}: ${p} twice on ${n.id}`).toBe(false);
          n.hostPorts.add(p);
        }
      }
      // Every task is decided exactly once.
      const decided = [...assigned.map((a) => a.taskId), ...unplaced.map((u) => u.taskId)].sort();
      expect(decided, `seed ${seed}`).toEqual(tasks.map((t) => t.id).sort());
    }
  });

  it('leaves a task unplaced only when no node could take it, and explains every node', () => {
    for (const seed of SEEDS) {
      const { nodes, tasks } = scenario(seed);
      const { unplaced } = placeTasks(tasks, nodes);
      const byTask = new Map(tasks.map((t) => [t.id, t]));
      for (const u of unplaced) {
        const t = byTask.get(u.taskId)!;
        const candidates = t.nodeId === null ? nodes : nodes.filter((n) => n.id === t.nodeId);
        // Filters only get stricter as tasks are placed, so what refused it then refuses it now.
        for (const n of candidates) expect(PIPELINE.some((f) => !f.check(t.demand, n)), `seed ${seed}: ${u.taskId} fits ${n.id}`).toBe(true);
        if (t.nodeId === null) {
          // Every node is accounted for once.
          const total = [...u.reason.matchAll(/(\d+) nodes?/g)].reduce((sum, m) => sum + Number(m[1]), 0);
          expect(total, `seed ${seed}: ${u.reason}`).toBe(nodes.length);
          // The reasons are those of the moment the task was refused: exact when no later task
          // (of a later demand) changed the nodes since.
          if (t.demand !== tasks[tasks.length - 1]!.demand) continue;
          const counts = new Map<Filter, number>();
          for (const n of nodes) {
            const f = PIPELINE.find((x) => !x.check(t.demand, n))!;
            counts.set(f, (counts.get(f) ?? 0) + 1);
          }
          expect(u.reason, `seed ${seed}`).toBe(explainRejections(counts, nodes.length));
        }
      }
    }
  });

  it('chooses exactly the nodes a full scan would', () => {
    for (const seed of SEEDS) {
      const { nodes, tasks } = scenario(seed);
      const fast = placeTasks(tasks, clone(nodes));
      const slow = reference(tasks, clone(nodes));
      expect(fast.assigned, `seed ${seed}`).toEqual(slow.assigned);
      expect(fast.unplaced.map((u) => u.taskId), `seed ${seed}`).toEqual(slow.unplaced.map((u) => u.taskId));
    }
  });

  it('places 10,000 tasks on 1,000 nodes quickly', () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => schedNode(`n${String(i).padStart(4, '0')}`, { nanoCpus: 64e9 }));
    const d: TaskDemand = { serviceId: 'big', nanoCpus: 1e8, memoryBytes: 0, constraints: [], maxReplicas: 0, hostPorts: [] };
    const tasks = Array.from({ length: 10_000 }, (_, i) => ({ id: `t${i}`, demand: d, nodeId: null }));
    const started = performance.now();
    const { assigned } = placeTasks(tasks, nodes);
    const ms = performance.now() - started;
    expect(assigned).toHaveLength(10_000);
    expect(new Set(nodes.map((n) => n.taskCount))).toEqual(new Set([10]));
    // A full scan per task takes seconds here; the heap takes tens of milliseconds.
    expect(ms).toBeLessThan(1000);
  });
});
