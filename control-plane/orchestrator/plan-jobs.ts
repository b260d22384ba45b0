/**
 * Job planning (swarmkit's jobs orchestrator): a job runs its tasks to completion, once per job
 * iteration, and has no rolling update. Its slots are planned as any service's (plan-slots.ts),
 * from the tasks of the current iteration only: a slot whose task completed is done, since a job's
 * restart policy never restarts a completed task. A replicated job then starts fresh slots only
 * while fewer than MaxConcurrent are in flight. Tasks of earlier iterations are history, stopped if
 * they still run.
 */
import { replicatedJobOf } from '../swarm/service-spec.ts';
import { isLive, planSlots, type Slot } from './plan-slots.ts';
import type { NodeView, Plan, ServiceView, TaskView } from './reconcile.ts';

export function planJob(service: ServiceView, tasks: TaskView[], nodes: NodeView[], now: number): Plan {
  const iteration = service.jobStatus?.JobIteration.Index ?? 0;
  const slots = planSlots(service, tasks.filter((t) => t.jobIteration === iteration), nodes, now, 'stop-first');
  const superseded = tasks.filter((t) => t.jobIteration !== iteration && isLive(t));
  const plan: Plan = {
    create: admitted(service, slots.slots),
    shutdown: [...superseded.map((t) => ({ taskId: t.id, message: 'superseded by a new job iteration' })), ...slots.shutdown],
  };
  if (slots.wakeAt !== undefined) plan.wakeAt = slots.wakeAt;
  return plan;
}

/**
 * The slots filled now. A global job fills every eligible node at once. A replicated job restarts
 * a slot whatever the concurrency, since its failed task was one of the MaxConcurrent (swarmkit
 * counts a restart in flight too), and starts fresh slots, lowest first, only into the room left.
 */
function admitted(service: ServiceView, slots: Slot[]): Plan['create'] {
  const job = replicatedJobOf(service.spec);
  const filled = slots.filter((s) => s.empty === 'filled');
  if (!job) return filled.map((s) => s.place);
  // In flight: a live task, or a slot that had one and is being restarted (done and given-up slots are not).
  const inFlight = slots.filter((s) => s.current || (s.history.length > 0 && s.empty !== 'not restarted'));
  let room = job.maxConcurrent - inFlight.length;
  const create: Plan['create'] = [];
  for (const s of filled) {
    if (s.history.length > 0) create.push(s.place);
    else if (room-- > 0) create.push(s.place);
  }
  return create;
}
