/** Nodes, tasks and plan readers for the reconciler's pure tests. */
import type { NodeView, Plan, TaskView } from '../../control-plane/orchestrator/reconcile.ts';

export const SECOND = 1_000_000_000; // Docker durations are nanoseconds

export function node(id: string, extra: Partial<NodeView> = {}): NodeView {
  return { id, hostname: id, role: 'worker', labels: {}, engineLabels: {}, os: 'linux', arch: 'x86_64', state: 'ready', availability: 'active', ...extra };
}

let seq = 0;
/** A task running in slot 1 on n1; each one made later than the one before. */
export function task(extra: Partial<TaskView> = {}): TaskView {
  seq++;
  return { id: `t${seq}`, slot: 1, nodeId: 'n1', desiredState: 'running', state: 'running', specHash: '', statusAt: seq, createdAt: seq, ...extra };
}

export const created = (plan: Plan) => plan.create.map((c) => c.slot).sort((a, b) => a - b);
export const stopped = (plan: Plan) => plan.shutdown.map((s) => s.taskId);
