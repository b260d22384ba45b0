import { type DesiredState, isTerminal, type TaskState, type UpdateStatus } from '../db/schema/index.ts';
import {
  constraintsOf,
  failurePolicyOf,
  isGlobal,
  replicasOf,
  restartPolicyOf,
  type ServiceSpec,
  updateMonitorMsOf,
  updateOrderOf,
  updateParallelismOf,
} from '../swarm/service-spec.ts';
import { parseConstraint, satisfies } from '../scheduler/constraints.ts';
import type { ConstraintTarget } from '../scheduler/constraints.ts';

export interface ServiceView {
  id: string;
  spec: ServiceSpec;
  specHash: string;
  updateStatus: UpdateStatus | null;
}

export interface TaskView {
  id: string;
  slot: number;
  nodeId: string | null;
  desiredState: DesiredState;
  state: TaskState;
  specHash: string;
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
  /** When a delayed restart falls due, so the loop can come back then. */
  wakeAt?: number;
}

const EXITED: ReadonlySet<TaskState> = new Set(['complete', 'failed', 'rejected']);

export const isLive = (t: Pick<TaskView, 'desiredState'>) => t.desiredState === 'running' || t.desiredState === 'ready';

/**
 * Decides what a service needs: which slots to fill, which tasks to stop. A pure function of the
 * service, its tasks, the nodes and the time, so it can be tested and re-run freely; the caller
 * applies the plan in one transaction.
 */
export function reconcileService(service: ServiceView, tasks: TaskView[], nodes: NodeView[], now: number): Plan {
  const plan: Plan = { create: [], shutdown: [] };
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const stop = (t: TaskView, message: string) => plan.shutdown.push({ taskId: t.id, message });

  // Tasks that exited on their own, or whose node is gone, down or drained, leave their slot.
  const live: TaskView[] = [];
  for (const t of tasks) {
    if (!isLive(t)) continue;
    const node = t.nodeId ? nodeById.get(t.nodeId) : undefined;
    if (isTerminal(t.state)) stop(t, `task ${t.state}`);
    else if (t.nodeId && !node) stop(t, 'node removed');
    else if (node?.state === 'down') stop(t, 'node down');
    else if (node?.availability === 'drain') stop(t, 'node drained');
    else live.push(t);
  }

  // Slot key: replica number, or node ID for global services.
  const global = isGlobal(service.spec);
  const keyOf = (t: Pick<TaskView, 'slot' | 'nodeId'>) => (global ? (t.nodeId ?? '') : String(t.slot));
  const wanted = new Map<string, { slot: number; nodeId: string | null }>();
  if (global) {
    const constraints = constraintsOf(service.spec.TaskTemplate ?? {}).map(parseConstraint);
    // A node holds the service while it runs one of its tasks, including one being replaced.
    const occupied = new Set([...live, ...tasks.filter((t) => !isLive(t) && !isTerminal(t.state))].map((t) => t.nodeId));
    for (const n of nodes) {
      if (n.state !== 'ready' || n.availability === 'drain') continue;
      // Paused nodes keep their tasks but take no new ones.
      if (n.availability === 'pause' && !occupied.has(n.id)) continue;
      if (!constraints.every((c) => satisfies(c, n))) continue;
      wanted.set(n.id, { slot: 0, nodeId: n.id });
    }
  } else {
    for (let slot = 1; slot <= replicasOf(service.spec); slot++) wanted.set(String(slot), { slot, nodeId: null });
  }

  const liveByKey = new Map<string, TaskView[]>();
  for (const t of live) {
    const key = keyOf(t);
    if (!wanted.has(key)) {
      stop(t, global ? 'node no longer eligible' : 'scaled down');
      continue;
    }
    const list = liveByKey.get(key) ?? [];
    list.push(t);
    liveByKey.set(key, list);
  }
  // One live task per slot: keep the newest, stop the rest; except that a start-first update keeps
  // the old task running until its replacement runs.
  const rollingBack = service.updateStatus?.State === 'rollback_started';
  const startFirst = updateOrderOf(service.spec, rollingBack) === 'start-first';
  for (const list of liveByKey.values()) {
    list.sort((a, b) => b.createdAt - a.createdAt);
    const newest = list[0]!;
    const overlapping = startFirst && newest.specHash === service.specHash && newest.state !== 'running';
    for (const extra of list.splice(1)) {
      if (overlapping && extra.specHash !== service.specHash) continue;
      stop(extra, startFirst ? 'replaced by an updated task' : 'duplicate task in slot');
    }
  }

  const historyByKey = new Map<string, TaskView[]>();
  for (const t of tasks) {
    const key = keyOf(t);
    const list = historyByKey.get(key) ?? [];
    list.push(t);
    historyByKey.set(key, list);
  }
  const stopping = new Set(plan.shutdown.map((s) => s.taskId));

  const policy = restartPolicyOf(service.spec);
  const failure = failurePolicyOf(service.spec, rollingBack);
  let dirty: TaskView[] = [];
  let inFlight = 0;
  for (const [key, slot] of wanted) {
    const current = liveByKey.get(key)?.[0];
    if (current) {
      if (current.specHash !== service.specHash) dirty.push(current);
      else if (current.state !== 'running') inFlight++;
      continue;
    }
    const history = historyByKey.get(key) ?? [];
    // Stop-first: an old task still stopping on a healthy node keeps its slot until it has stopped.
    const stillStopping = (historyByKey.get(key) ?? []).some((t) => {
      const node = t.nodeId ? nodeById.get(t.nodeId) : undefined;
      return !isLive(t) && !stopping.has(t.id) && !isTerminal(t.state) && node?.state === 'ready' && node.availability !== 'drain' && t.specHash !== service.specHash;
    });
    if (stillStopping) {
      inFlight++;
      continue;
    }
    const due = restartDue(history, policy, now);
    if (due === 'never') continue;
    if (due > now) {
      // A slot waiting out its restart delay is down: an update takes no other slot down meanwhile,
      // unless told to continue whatever fails.
      if (failure.action !== 'continue') inFlight++;
      plan.wakeAt = Math.min(plan.wakeAt ?? Infinity, due);
      continue;
    }
    plan.create.push(slot);
  }

  // An update whose new tasks fail more than MaxFailureRatio allows takes its FailureAction
  // (swarmkit's updater): pause replaces nothing more, rollback restores the previous spec.
  const rolloutActive = service.updateStatus?.State === 'updating' || rollingBack;
  const failed = rolloutActive ? failedDuringUpdate(service, tasks) : [];
  if (failed.length > 0 && failed.length > failure.maxFailureRatio * Math.max(wanted.size, 1) && failure.action !== 'continue') {
    const message = `update ${failure.action === 'pause' || rollingBack ? 'paused' : 'rolled back'} due to failure or early termination of task ${failed[0]!.id}`;
    const startedAt = new Date(now).toISOString();
    if (failure.action === 'rollback' && !rollingBack) {
      plan.rollback = true;
      plan.updateStatus = { State: 'rollback_started', StartedAt: startedAt, Message: message };
      // Slots are filled from the restored spec by the next pass, at once, not from the failed one.
      plan.create = [];
      plan.wakeAt = now;
    } else {
      plan.updateStatus = { ...service.updateStatus!, State: rollingBack ? 'rollback_paused' : 'paused', Message: message };
    }
    return plan;
  }
  const paused = service.updateStatus?.State === 'paused' || service.updateStatus?.State === 'rollback_paused';
  if (paused) dirty = [];
  // Out-of-date tasks with no rollout under way: a later write (a scale, say) cleared a paused
  // update's status. As in swarmkit, the update resumes, with its status and failure checks.
  if (dirty.length && !paused && !rolloutActive) {
    plan.updateStatus = { State: 'updating', StartedAt: new Date(now).toISOString(), Message: 'update in progress' };
  }

  // Rolling update: replace out-of-date tasks a few slots at a time. Stop-first stops the old task
  // and fills the slot once it has stopped; start-first starts the new task beside it. A task made
  // in this pass is not running yet, so it counts against the parallelism too.
  inFlight += plan.create.length;
  const parallelism = updateParallelismOf(service.spec, rollingBack) || Infinity;
  dirty.sort((a, b) => a.slot - b.slot || (a.nodeId ?? '').localeCompare(b.nodeId ?? ''));
  dirty = dirty.slice(0, Math.max(0, parallelism - inFlight));
  for (const t of dirty) {
    if (!startFirst) {
      stop(t, 'updated to a new spec');
      continue;
    }
    // A replacement that exited is restarted on the restart policy's terms, not at once.
    const due = restartDue(historyByKey.get(keyOf(t)) ?? [], policy, now);
    if (due === 'never') continue;
    if (due > now) plan.wakeAt = Math.min(plan.wakeAt ?? Infinity, due);
    else plan.create.push(wanted.get(keyOf(t))!);
  }

  if (rolloutActive) {
    const settled =
      plan.create.length === 0 &&
      plan.shutdown.length === 0 &&
      inFlight === 0 &&
      [...wanted.keys()].every((k) => liveByKey.get(k)?.[0]?.specHash === service.specHash);
    // Monitor: the last new tasks must have run that long, so a task that crashes soon after it
    // started still counts as a failure of the update.
    const monitorMs = updateMonitorMsOf(service.spec, rollingBack);
    const stableAt = Math.max(0, ...[...wanted.keys()].map((k) => (liveByKey.get(k)?.[0]?.statusAt ?? 0) + monitorMs));
    if (settled && stableAt > now) plan.wakeAt = Math.min(plan.wakeAt ?? Infinity, stableAt);
    else if (settled) {
      plan.updateStatus = {
        ...service.updateStatus!,
        State: rollingBack ? 'rollback_completed' : 'completed',
        CompletedAt: new Date(now).toISOString(),
        Message: rollingBack ? 'rollback completed' : 'update completed',
      };
    }
  }
  return plan;
}

/** Tasks of the current spec that exited on their own since the update (or rollback) began. */
function failedDuringUpdate(service: ServiceView, tasks: TaskView[]): TaskView[] {
  const startedAt = Date.parse(service.updateStatus?.StartedAt ?? '') || 0;
  return tasks.filter((t) => t.specHash === service.specHash && EXITED.has(t.state) && t.createdAt >= startedAt);
}

/**
 * When the slot's next task may start, from the slot's history and the restart policy: now for a
 * slot that never had a task or whose task was stopped by us, later for a delayed restart, never
 * when the policy says so.
 *
 * MaxAttempts counts restarts, as Docker does (`--restart-max-attempts 2`: the first task and two
 * more): a restart is a task that replaced one that exited. With a Window, only restarts made
 * within it count, and the slot waits until the oldest of them falls out of it.
 */
function restartDue(history: TaskView[], policy: ReturnType<typeof restartPolicyOf>, now: number): number | 'never' {
  const sorted = [...history].sort((a, b) => a.createdAt - b.createdAt);
  const last = sorted[sorted.length - 1];
  if (!last || !EXITED.has(last.state)) return now;
  if (policy.condition === 'none') return 'never';
  if (policy.condition === 'on-failure' && last.state === 'complete') return 'never';
  const delayed = last.statusAt + policy.delayMs;
  if (policy.maxAttempts > 0) {
    const since = policy.windowMs > 0 ? now - policy.windowMs : -Infinity;
    const restarts = sorted.filter((t, i) => i > 0 && EXITED.has(sorted[i - 1]!.state) && t.createdAt >= since);
    if (restarts.length >= policy.maxAttempts) {
      return policy.windowMs > 0 ? Math.max(delayed, restarts[0]!.createdAt + policy.windowMs) : 'never';
    }
  }
  return delayed;
}
