import type { Constraint, ConstraintTarget } from './constraints.ts';
import { satisfies } from './constraints.ts';

/** A node as the scheduler sees it: description, capacity and what is already placed on it. */
export interface SchedNode extends ConstraintTarget {
  state: string;
  availability: string;
  nanoCpus: number;
  memoryBytes: number;
  reservedCpus: number;
  reservedMemory: number;
  taskCount: number;
  tasksPerService: Map<string, number>;
  hostPorts: Set<string>;
}

/** What every task of one service (at one spec) asks of a node. */
export interface TaskDemand {
  serviceId: string;
  nanoCpus: number;
  memoryBytes: number;
  constraints: Constraint[];
  maxReplicas: number;
  hostPorts: string[];
  /** Placement preferences: the SpreadDescriptors (`node.labels.az`), outermost first. */
  spread?: string[];
}

/** One pipeline stage: a check and how to explain, to a user, the nodes it turned away. */
export interface Filter {
  name: string;
  /** Static filters depend only on the node's description, so they run once per service. */
  static: boolean;
  check(demand: TaskDemand, node: SchedNode): boolean;
  explain(nodes: number): string;
}

const plural = (n: number) => (n === 1 ? '1 node' : `${n} nodes`);

export const readyFilter: Filter = {
  name: 'ready',
  static: true,
  check: (_d, node) => node.state === 'ready' && node.availability === 'active',
  explain: (n) => `${plural(n)} not available for new tasks`,
};

export const constraintFilter: Filter = {
  name: 'constraints',
  static: true,
  check: (d, node) => d.constraints.every((c) => satisfies(c, node)),
  explain: (n) => `scheduling constraints not satisfied on ${plural(n)}`,
};

export const resourceFilter: Filter = {
  name: 'resources',
  static: false,
  check: (d, node) =>
    (d.nanoCpus === 0 || node.reservedCpus + d.nanoCpus <= node.nanoCpus) &&
    (d.memoryBytes === 0 || node.reservedMemory + d.memoryBytes <= node.memoryBytes),
  explain: (n) => `insufficient resources on ${plural(n)}`,
};

export const maxReplicasFilter: Filter = {
  name: 'max-replicas',
  static: false,
  check: (d, node) => d.maxReplicas === 0 || (node.tasksPerService.get(d.serviceId) ?? 0) < d.maxReplicas,
  explain: (n) => `max replicas per node limit exceeded on ${plural(n)}`,
};

export const hostPortFilter: Filter = {
  name: 'host-ports',
  static: false,
  check: (d, node) => d.hostPorts.every((p) => !node.hostPorts.has(p)),
  explain: (n) => `host-mode port already in use on ${plural(n)}`,
};

export const PIPELINE: Filter[] = [readyFilter, constraintFilter, resourceFilter, maxReplicasFilter, hostPortFilter];

/** swarmkit's wording, so a pending task reads the same as it would under Docker. */
export function explainRejections(counts: Map<Filter, number>, totalNodes: number): string {
  if (totalNodes === 0) return 'no suitable node (no worker nodes have joined: run swarm-agent join)';
  const reasons = PIPELINE.filter((f) => (counts.get(f) ?? 0) > 0).map((f) => f.explain(counts.get(f)!));
  return `no suitable node (${reasons.join('; ')})`;
}
