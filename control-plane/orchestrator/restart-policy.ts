import type { TaskState } from '../db/schema/index.ts';
import type { RestartPolicy } from '../swarm/service-spec.ts';
import type { TaskView } from './reconcile.ts';

/** Ended on its own (as opposed to stopped by the control plane or lost with its node). */
export const EXITED: ReadonlySet<TaskState> = new Set(['complete', 'failed', 'rejected']);

/**
 * When the slot's next task may start, from the slot's history and the restart policy: now for a
 * slot that never had a task or whose task was stopped by us, later for a delayed restart, never
 * when the policy says so.
 *
 * MaxAttempts counts restarts, as Docker does (`--restart-max-attempts 2`: the first task and two
 * more): a restart is a task that replaced one that exited. With a Window, only restarts made
 * within it count, and the slot waits until the oldest of them falls out of it.
 */
export function restartDue(history: TaskView[], policy: RestartPolicy, now: number): number | 'never' {
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
