/**
 * Slot planning, the first half of a service's plan: which slots the service wants, which live
 * tasks leave their slot and why, and which empty slots are filled now under the restart policy.
 * What a rolling update does with the slots is plan-rollout.ts's part.
 */
import { isTerminal } from '../db/schema/index.ts';
import { parseConstraint, satisfies } from '../scheduler/constraints.ts';
import { constraintsOf, onePerNode, replicasOf, replicatedJobOf, restartPolicyOf } from '../swarm/service-spec.ts';
import type { NodeView, Plan, ServiceView, TaskView } from './reconcile.ts';
import { restartDue } from './restart-policy.ts';
import { groupBy } from '../group-by.ts';

/** Wanted in its slot: desired running (or ready), whatever the agent last reported. */
export const isLive = (t: Pick<TaskView, 'desiredState'>) => t.desiredState === 'running' || t.desiredState === 'ready';

export type SlotPlace = Plan['create'][number];

/** A slot the service wants filled, and what is in it. */
export interface Slot {
  /** Where its next task goes: a replica number, or slot 0 on a global service's (or job's) node. */
  place: SlotPlace;
  /** The live task that holds the slot (the newest, when there were several). */
  current: TaskView | undefined;
  /** Every task the slot has had, live or not: the restart policy counts from these. */
  history: TaskView[];
  /** For a slot without a live task: whether it is filled in this pass, and if not, why. */
  empty?: 'filled' | 'old task stopping' | 'restart delayed' | 'not restarted';
}

export interface SlotPlan extends Pick<Plan, 'create' | 'shutdown' | 'wakeAt'> {
  /** The wanted slots, replica order or node order. */
  slots: Slot[];
}

/**
 * Plans a service's slots. `order` is the update order in effect: under start-first, an old task
 * stays beside its not-yet-running replacement instead of being stopped as a duplicate.
 */
export function planSlots(service: ServiceView, tasks: TaskView[], nodes: NodeView[], now: number, order: 'stop-first' | 'start-first'): SlotPlan {
  const plan: SlotPlan = { create: [], shutdown: [], slots: [] };
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const stop = (t: TaskView, message: string) => plan.shutdown.push({ taskId: t.id, message });

  // Slot key: replica number, or node ID for global services and global jobs.
  const global = onePerNode(service.spec);

  // Tasks that exited on their own, or whose node is gone, down or drained, leave their slot; but
  // a global task is made for its node and could run nowhere else: a down node keeps it, so a node
  // cut off for a while and back with the container still running goes on with the same task.
  const live: TaskView[] = [];
  for (const t of tasks) {
    if (!isLive(t)) continue;
    const node = t.nodeId ? nodeById.get(t.nodeId) : undefined;
    if (isTerminal(t.state)) stop(t, `task ${t.state}`);
    else if (t.nodeId && !node) stop(t, 'node removed');
    else if (node?.state === 'down' && !global) stop(t, 'node down');
    else if (node?.availability === 'drain') stop(t, 'node drained');
    else live.push(t);
  }

  const keyOf = (t: Pick<TaskView, 'slot' | 'nodeId'>) => (global ? (t.nodeId ?? '') : String(t.slot));
  const wanted = wantedSlots(service, tasks, live, nodes);

  const inWantedSlot: TaskView[] = [];
  for (const t of live) {
    if (wanted.has(keyOf(t))) inWantedSlot.push(t);
    else stop(t, global ? 'node no longer eligible' : 'scaled down');
  }
  const liveByKey = groupBy(inWantedSlot, keyOf);
  // One live task per slot: keep the newest, stop the rest; except that a start-first update keeps
  // the old task running until its replacement runs.
  const startFirst = order === 'start-first';
  for (const list of liveByKey.values()) {
    list.sort((a, b) => b.createdAt - a.createdAt);
    const newest = list[0]!;
    const overlapping = startFirst && newest.specHash === service.specHash && newest.state !== 'running';
    for (const extra of list.splice(1)) {
      if (overlapping && extra.specHash !== service.specHash) continue;
      stop(extra, startFirst ? 'replaced by an updated task' : 'duplicate task in slot');
    }
  }

  const historyByKey = groupBy(tasks, keyOf);
  const stopping = new Set(plan.shutdown.map((s) => s.taskId));
  // Stop-first: an old task still stopping on a healthy node keeps its slot until it has stopped.
  const stillStopping = (t: TaskView) => {
    const node = t.nodeId ? nodeById.get(t.nodeId) : undefined;
    return !isLive(t) && !stopping.has(t.id) && !isTerminal(t.state) && node?.state === 'ready' && node.availability !== 'drain' && t.specHash !== service.specHash;
  };
  const policy = restartPolicyOf(service.spec);
  for (const [key, place] of wanted) {
    const slot: Slot = { place, current: liveByKey.get(key)?.[0], history: historyByKey.get(key) ?? [] };
    plan.slots.push(slot);
    if (slot.current) continue;
    if (slot.history.some(stillStopping)) {
      slot.empty = 'old task stopping';
      continue;
    }
    const due = restartDue(slot.history, policy, now);
    if (due === 'never') slot.empty = 'not restarted';
    else if (due > now) {
      slot.empty = 'restart delayed';
      plan.wakeAt = Math.min(plan.wakeAt ?? Infinity, due);
    } else {
      slot.empty = 'filled';
      plan.create.push(place);
    }
  }
  return plan;
}

/** The slots the service wants, by slot key: its replicas (a job's completions), or its eligible nodes when global. */
function wantedSlots(service: ServiceView, tasks: TaskView[], live: TaskView[], nodes: NodeView[]): Map<string, SlotPlace> {
  const wanted = new Map<string, SlotPlace>();
  if (!onePerNode(service.spec)) {
    // swarmkit numbers a replicated job's slots from 0, and the CLI's job progress counts them so.
    const job = replicatedJobOf(service.spec);
    const [first, count] = job ? [0, job.totalCompletions] : [1, replicasOf(service.spec)];
    for (let slot = first; slot < first + count; slot++) wanted.set(String(slot), { slot, nodeId: null });
    return wanted;
  }
  const constraints = constraintsOf(service.spec.TaskTemplate ?? {}).map(parseConstraint);
  // A node holds the service while it runs one of its tasks, including one being replaced.
  const occupied = new Set([...live, ...tasks.filter((t) => !isLive(t) && !isTerminal(t.state))].map((t) => t.nodeId));
  const kept = new Set(live.map((t) => t.nodeId));
  for (const n of nodes) {
    // A down node keeps the slot of the task it has (see planSlots) and is given no new one.
    if (n.availability === 'drain' || (n.state !== 'ready' && !(n.state === 'down' && kept.has(n.id)))) continue;
    // Paused nodes keep their tasks but take no new ones.
    if (n.availability === 'pause' && !occupied.has(n.id)) continue;
    if (!constraints.every((c) => satisfies(c, n))) continue;
    wanted.set(n.id, { slot: 0, nodeId: n.id });
  }
  return wanted;
}
