/**
 * swarmkit's placement preferences (`--placement-pref spread=node.labels.az`): the nodes form a
 * tree, one level per preference, grouped by their value of its label (nodes without the label
 * form a group of their own, as in swarmkit); a task goes to the branch with the fewest of the
 * service's tasks at each level in turn, and only then to the best node of that branch.
 */
import { valueOf } from './constraints.ts';
import type { SchedNode } from './filters.ts';

export class SpreadGroups {
  /** A branch of the tree (the values of the first levels) → the service's tasks in it. */
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly descriptors: string[],
    nodes: SchedNode[],
    serviceId: string,
  ) {
    for (const node of nodes) this.add(node, node.tasksPerService.get(serviceId) ?? 0);
  }

  private branches(node: SchedNode): string[] {
    const values = this.descriptors.map((d) => valueOf(d, node) ?? '');
    return values.map((_, level) => JSON.stringify(values.slice(0, level + 1)));
  }

  /** Counts tasks placed on the node in each of its branches. */
  add(node: SchedNode, tasks = 1): void {
    for (const b of this.branches(node)) this.counts.set(b, (this.counts.get(b) ?? 0) + tasks);
  }

  /** Below zero when `a` is in the emptier branch, level by level; zero when they are alike. */
  compare(a: SchedNode, b: SchedNode): number {
    const ba = this.branches(a);
    const bb = this.branches(b);
    for (let level = 0; level < ba.length; level++) {
      const diff = (this.counts.get(ba[level]!) ?? 0) - (this.counts.get(bb[level]!) ?? 0);
      if (diff !== 0) return diff;
    }
    return 0;
  }
}
