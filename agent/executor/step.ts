import type { TaskReport } from '../../protocol/agent-api.ts';
import { type DesiredState, isTerminal, stateRank as rank, type TaskState } from '../../protocol/task-states.ts';
import { type ContainerObservation, FatalTaskError, type TaskController } from './controller.ts';


/** What the agent knows of a task: the last state it saw or reported, with its details. */
export type TaskStatus = Omit<TaskReport, 'taskId' | 'timestamp'>;

export interface TaskView {
  desiredState: DesiredState | 'gone';
  status: TaskStatus;
  graceMs: number;
}

/**
 * One step's outcome: a new status to report, `progress` when the engine was changed but the
 * task's state was not (step again), or `idle` when only an outside event can move it further.
 */
export type StepResult = { status: TaskStatus } | 'progress' | 'idle';

const containerStatus = (c: ContainerObservation) => ({ ContainerID: c.id, PID: c.running ? c.pid : 0, ExitCode: c.exitCode });

/** The end of a container that stopped by itself. */
function exited(c: ContainerObservation): TaskStatus {
  if (c.exitCode === 0 && !c.error) return { state: 'complete', message: 'finished', containerStatus: containerStatus(c) };
  const why = c.oomKilled ? 'task: container killed: out of memory' : c.error ? `task: ${c.error}` : `task: non-zero exit (${c.exitCode})`;
  return { state: 'failed', message: 'started', err: why, containerStatus: containerStatus(c) };
}

function runningStatus(c: ContainerObservation): TaskStatus {
  return {
    state: 'running',
    message: 'started',
    containerStatus: containerStatus(c),
    ...(c.ports.length ? { portStatus: { Ports: c.ports } } : {}),
  };
}

/**
 * Moves a task one step towards its desired state, like swarmkit's exec.Do: look at the state
 * and the container, do at most one engine operation, and say what the task's state now is.
 * Errors that are not FatalTaskError are retryable (the engine could not be reached): the caller
 * retries the same step later.
 */
export async function stepTask(task: TaskView, ctlr: TaskController): Promise<StepResult> {
  const { state } = task.status;
  const fatal = async (to: TaskState, fn: () => Promise<void>): Promise<StepResult | undefined> => {
    try {
      await fn();
      return undefined;
    } catch (err) {
      if (!(err instanceof FatalTaskError)) throw err;
      return { status: { state: to, message: to === 'rejected' ? 'preparing failed' : 'starting failed', err: err.message } };
    }
  };

  if (task.desiredState !== 'running' && task.desiredState !== 'ready') {
    const c = await ctlr.inspect();
    if (c?.running) {
      await ctlr.stop(task.graceMs);
      return 'progress';
    }
    if (c && (task.desiredState === 'remove' || task.desiredState === 'gone')) {
      await ctlr.remove();
      return 'progress';
    }
    // A task that left the set is history at the control plane: a report would be refused.
    if (isTerminal(state) || task.desiredState === 'gone') return 'idle';
    // Stopped by us before it ended by itself: shutdown, keeping what the container last said.
    return { status: { state: 'shutdown', message: 'shutdown', ...(c ? { containerStatus: containerStatus(c) } : {}) } };
  }

  if (isTerminal(state)) return 'idle';
  if (rank(state) < rank('accepted')) return { status: { state: 'accepted', message: 'accepted' } };
  if (state === 'accepted') return { status: { state: 'preparing', message: 'preparing' } };
  if (state === 'preparing') {
    return (await fatal('rejected', () => ctlr.prepare())) ?? { status: { state: 'starting', message: 'starting' } };
  }

  const c = await ctlr.inspect();
  if (!c) {
    const err = state === 'starting' ? 'task: container was removed before it started' : 'task: container was removed';
    return { status: { state: 'failed', message: 'removed', err } };
  }
  if (c.status === 'created') {
    return (await fatal('failed', () => ctlr.start())) ?? 'progress';
  }
  if (!c.running) return { status: exited(c) };
  if (c.health === 'unhealthy') {
    // The control plane replaces it; the container must not keep serving meanwhile.
    await ctlr.stop(task.graceMs);
    return { status: { state: 'failed', message: 'unhealthy', err: 'task: container unhealthy', containerStatus: containerStatus(c) } };
  }
  if (state === 'starting') {
    if (c.health === 'starting') return 'idle';
    return { status: runningStatus(c) };
  }
  return 'idle';
}
