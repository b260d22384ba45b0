/**
 * Rollout planning, the second half of a service's plan (swarmkit's updater): a rolling update or
 * rollback replaces out-of-date tasks a few slots at a time, takes its FailureAction when too many
 * new tasks fail, and completes once the new tasks have held for the Monitor period.
 */
import type { UpdateStatus } from '../db/schema/index.ts';
import { type FailurePolicy, failurePolicyOf, restartPolicyOf, updateMonitorMsOf, updateOrderOf, updateParallelismOf } from '../swarm/service-spec.ts';
import type { Slot, SlotPlan } from './plan-slots.ts';
import type { Plan, ServiceView, TaskView } from './reconcile.ts';
import { EXITED, restartDue } from './restart-policy.ts';

/** The update settings in effect: a rollback runs on the RollbackConfig, anything else on the UpdateConfig. */
export interface Rollout {
  rollingBack: boolean;
  /** The status of the update or rollback under way; undefined when none is. */
  active: UpdateStatus | undefined;
  paused: boolean;
  order: 'stop-first' | 'start-first';
  parallelism: number;
  failure: FailurePolicy;
  monitorMs: number;
}

export function rolloutOf(service: ServiceView): Rollout {
  const status = service.updateStatus ?? undefined;
  const rollingBack = status?.State === 'rollback_started';
  return {
    rollingBack,
    active: status?.State === 'updating' || status?.State === 'rollback_started' ? status : undefined,
    paused: status?.State === 'paused' || status?.State === 'rollback_paused',
    order: updateOrderOf(service.spec, rollingBack),
    // Docker's Parallelism 0: every slot at once.
    parallelism: updateParallelismOf(service.spec, rollingBack) || Infinity,
    failure: failurePolicyOf(service.spec, rollingBack),
    monitorMs: updateMonitorMsOf(service.spec, rollingBack),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Extends the slot plan with what the rollout does: the whole plan of the service. */
export function planRollout(service: ServiceView, rollout: Rollout, tasks: TaskView[], slots: SlotPlan, now: number): Plan {
  const plan: Plan = { create: [...slots.create], shutdown: [...slots.shutdown] };
  if (slots.wakeAt !== undefined) plan.wakeAt = slots.wakeAt;
  const { active, failure } = rollout;

  // An update whose new tasks fail more than MaxFailureRatio allows takes its FailureAction.
  const failed = active ? failedSince(active, service, tasks) : [];
  if (active && failed[0] && failed.length > failure.maxFailureRatio * Math.max(slots.slots.length, 1) && failure.action !== 'continue') {
    return takeFailureAction(plan, service, rollout, active, failed[0], now);
  }

  // Slots the rollout has in flight: a new task not running yet, an old one still stopping, or a
  // slot waiting out its restart delay, which is down too (unless told to continue whatever fails).
  let inFlight = 0;
  let outdated: Array<{ slot: Slot; task: TaskView }> = [];
  for (const slot of slots.slots) {
    const task = slot.current;
    if (task && task.specHash !== service.specHash) outdated.push({ slot, task });
    else if (task) inFlight += task.state === 'running' ? 0 : 1;
    else if (slot.empty === 'old task stopping') inFlight++;
    else if (slot.empty === 'restart delayed' && failure.action !== 'continue') inFlight++;
  }
  if (rollout.paused) outdated = [];
  // Out-of-date tasks with no rollout under way: a later write (a scale, say) cleared a paused
  // update's status. As in swarmkit, the update resumes, with its status and failure checks.
  if (outdated.length && !active) plan.updateStatus = { State: 'updating', StartedAt: iso(now), Message: 'update in progress' };

  // Replace out-of-date tasks a few slots at a time. Stop-first stops the old task and fills the
  // slot once it has stopped; start-first starts the new task beside it. A task made in this pass
  // is not running yet, so it counts against the parallelism too.
  inFlight += plan.create.length;
  outdated.sort((a, b) => a.task.slot - b.task.slot || (a.task.nodeId ?? '').localeCompare(b.task.nodeId ?? ''));
  const policy = restartPolicyOf(service.spec);
  for (const { slot, task } of outdated.slice(0, Math.max(0, rollout.parallelism - inFlight))) {
    if (rollout.order === 'stop-first') {
      plan.shutdown.push({ taskId: task.id, message: 'updated to a new spec' });
      continue;
    }
    // A replacement that exited is restarted on the restart policy's terms, not at once.
    const due = restartDue(slot.history, policy, now);
    if (due === 'never') continue;
    if (due > now) plan.wakeAt = Math.min(plan.wakeAt ?? Infinity, due);
    else plan.create.push(slot.place);
  }

  if (active) {
    const settled = plan.create.length === 0 && plan.shutdown.length === 0 && inFlight === 0 && slots.slots.every((s) => s.current?.specHash === service.specHash);
    // Monitor: the last new tasks must have run that long, so a task that crashes soon after it
    // started still counts as a failure of the update.
    const stableAt = Math.max(0, ...slots.slots.map((s) => (s.current?.statusAt ?? 0) + rollout.monitorMs));
    if (settled && stableAt > now) plan.wakeAt = Math.min(plan.wakeAt ?? Infinity, stableAt);
    else if (settled) {
      const State = rollout.rollingBack ? 'rollback_completed' : 'completed';
      plan.updateStatus = { ...active, State, CompletedAt: iso(now), Message: rollout.rollingBack ? 'rollback completed' : 'update completed' };
    }
  }
  return plan;
}

/** Tasks of the current spec that exited on their own since the update (or rollback) began. */
function failedSince(status: UpdateStatus, service: ServiceView, tasks: TaskView[]): TaskView[] {
  const startedAt = Date.parse(status.StartedAt ?? '') || 0;
  return tasks.filter((t) => t.specHash === service.specHash && EXITED.has(t.state) && t.createdAt >= startedAt);
}

/**
 * Pause replaces nothing more; rollback restores the previous spec, or pauses when there is none
 * to go back to. A rollback that fails pauses whatever its own FailureAction says.
 */
function takeFailureAction(plan: Plan, service: ServiceView, rollout: Rollout, active: UpdateStatus, failed: TaskView, now: number): Plan {
  const why = `due to failure or early termination of task ${failed.id}`;
  if (rollout.failure.action !== 'rollback' || rollout.rollingBack) {
    plan.updateStatus = { ...active, State: rollout.rollingBack ? 'rollback_paused' : 'paused', Message: `update paused ${why}` };
    return plan;
  }
  // Slots are filled from the restored spec by the next pass, at once, not from the failed one.
  plan.create = [];
  plan.wakeAt = now;
  if (service.previousSpec) {
    plan.rollback = true;
    plan.updateStatus = { State: 'rollback_started', StartedAt: iso(now), Message: `update rolled back ${why}` };
  } else {
    plan.updateStatus = { State: 'paused', StartedAt: iso(now), Message: `update paused ${why}` };
  }
  return plan;
}
