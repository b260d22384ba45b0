/**
 * The reconciler: a pure function from a service, its tasks, the nodes and the time to a plan (as
 * Nomad's). Every decision about the service is made here, in two parts: slot planning
 * (plan-slots.ts) and the rollout (plan-rollout.ts); a job's slots are planned by plan-jobs.ts
 * instead, and it has no rollout. Applying the plan is apply-plan.ts's job.
 */
import type { DesiredState, JobStatus, TaskState, UpdateStatus } from '../db/schema/index.ts';
import type { ConstraintTarget } from '../scheduler/constraints.ts';
import { isJob, type ServiceSpec } from '../swarm/service-spec.ts';
import { planJob } from './plan-jobs.ts';
import { planRollout, rolloutOf } from './plan-rollout.ts';
import { planSlots } from './plan-slots.ts';

export { isLive } from './plan-slots.ts';

export interface ServiceView {
  id: string;
  spec: ServiceSpec;
  specHash: string;
  /** What a failed update with FailureAction rollback goes back to; without one it pauses. */
  previousSpec: ServiceSpec | null;
  updateStatus: UpdateStatus | null;
  /** A job's current iteration; only job-mode services have one. */
  jobStatus?: JobStatus | null;
}

export interface TaskView {
  id: string;
  slot: number;
  nodeId: string | null;
  desiredState: DesiredState;
  state: TaskState;
  specHash: string;
  /** The job iteration a job's task belongs to. */
  jobIteration?: number | null;
  statusAt: number;
  createdAt: number;
}

export interface NodeView extends ConstraintTarget {
  state: string;
  availability: string;
}

export interface Plan {
  create: Array<{ slot: number; nodeId: string | null }>;
  shutdown: Array<{ taskId: string; message: string }>;
  /** undefined: leave as is; null: clear. */
  updateStatus?: UpdateStatus | null;
  /** The update failed and its FailureAction is rollback: swap Spec and PreviousSpec. */
  rollback?: boolean;
  /** When a delayed restart or the update's Monitor period falls due, so the loop can come back then. */
  wakeAt?: number;
}

/**
 * Decides what a service needs: which slots to fill, which tasks to stop, what its update does.
 * Pure, so it can be tested and re-run freely; the caller applies the plan in one transaction.
 */
export function reconcileService(service: ServiceView, tasks: TaskView[], nodes: NodeView[], now: number): Plan {
  if (isJob(service.spec)) return planJob(service, tasks, nodes, now);
  const rollout = rolloutOf(service);
  const slots = planSlots(service, tasks, nodes, now, rollout.order);
  return planRollout(service, rollout, tasks, slots, now);
}
