/**
 * The task state vocabulary, shared by the control plane and swarm-agent. Pure: no database
 * imports, so the agent can use it too. States only move forward, in this order.
 */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type DesiredState = 'running' | 'ready' | 'shutdown' | 'remove';

const RANK = new Map<TaskState, number>(TASK_STATES.map((s, i) => [s, i]));
/** A state's place in the forward order; -1 for a word that is not a task state. */
export const stateRank = (state: string): number => RANK.get(state as TaskState) ?? -1;

/** Finished: no container runs for the task any more. */
export const TERMINAL_STATES: readonly TaskState[] = ['complete', 'shutdown', 'failed', 'rejected', 'orphaned'];
export const isTerminal = (state: TaskState): boolean => stateRank(state) >= stateRank('complete');

/** States in which a task holds its node's resources and ports (swarmkit's view). */
export const HOLDING_STATES: ReadonlySet<TaskState> = new Set<TaskState>(['assigned', 'accepted', 'preparing', 'starting', 'running']);
