import type { SchedNode, TaskDemand } from '../../control-plane/scheduler/filters.ts';

/** A node as the scheduler sees it, idle unless told otherwise. */
export function schedNode(id: string, extra: Partial<SchedNode> = {}): SchedNode {
  return {
    id,
    hostname: id,
    role: 'worker',
    labels: {},
    engineLabels: {},
    os: 'linux',
    arch: 'x86_64',
    state: 'ready',
    availability: 'active',
    nanoCpus: 4e9,
    memoryBytes: 8e9,
    reservedCpus: 0,
    reservedMemory: 0,
    taskCount: 0,
    tasksPerService: new Map(),
    hostPorts: new Set(),
    ...extra,
  };
}

export function demand(extra: Partial<TaskDemand> = {}): TaskDemand {
  return { serviceId: 'svc', nanoCpus: 0, memoryBytes: 0, constraints: [], maxReplicas: 0, hostPorts: [], ...extra };
}

/** mulberry32: a small seeded generator, so a failing property names the seed that broke it. */
export function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  };
}
