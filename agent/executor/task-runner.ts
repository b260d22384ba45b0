import type { Assignment, TaskReport } from '../../protocol/agent-api.ts';
import { Backoff } from '../backoff.ts';
import type { Logger } from '../../protocol/log.ts';
import { stopGraceMs } from './container-spec.ts';
import type { TaskController } from './controller.ts';
import { isTerminal, stateRank as rank } from '../../protocol/task-states.ts';
import { stepTask, type TaskStatus, type TaskView } from './step.ts';
import type { DrainWatch } from './drain-watch.ts';

const MAX_STEPS_PER_RUN = 32;

const stopping = (desired: TaskView['desiredState']) => desired !== 'running' && desired !== 'ready';

/**
 * Drives one task: steps run one at a time, whenever something may have changed (a new
 * assignment, an engine event, a resync). A failing engine call is retried with backoff.
 */
export class TaskRunner {
  private view: TaskView;
  private running = false;
  private dirty = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff = new Backoff(500, 15_000);
  private closed = false;
  /** While set and ahead, the task's container is left running for the other hosts to drain. */
  private drainUntil: number | undefined;
  /** Set once a task that left the set has no container left: the executor forgets it. */
  done = false;

  constructor(
    readonly taskId: string,
    assignment: Assignment | undefined,
    private readonly ctlr: TaskController & { update?(a: Assignment): void },
    private readonly report: (r: TaskReport) => void,
    private readonly log: Logger,
    /** `service.slot`, for people reading the log. */
    private readonly name?: string,
    /** Ends a drain as soon as no host routes to the task; without it a drain lasts its whole bound. */
    private readonly drains?: DrainWatch,
  ) {
    this.view = assignment
      ? { desiredState: assignment.desiredState, status: { state: assignment.state, message: '' }, graceMs: stopGraceMs(assignment) }
      : { desiredState: 'gone', status: { state: 'orphaned', message: '' }, graceMs: 10_000 };
  }

  get state() {
    return this.view.status.state;
  }

  /** A newer assignment: the desired state may change; an observed state ahead of ours is adopted. */
  update(a: Assignment) {
    this.ctlr.update?.(a);
    // A backend until just now (a VIP's, a name's, the routing mesh's): the control plane says how
    // long the other hosts may still send to it. Drain, then stop.
    if (!stopping(this.view.desiredState) && stopping(a.desiredState) && a.drainMs) this.drainUntil = Date.now() + a.drainMs;
    this.view.desiredState = a.desiredState;
    this.view.graceMs = stopGraceMs(a);
    this.done = false;
    if (rank(a.state) > rank(this.view.status.state)) this.view.status = { state: a.state, message: '' };
    this.poke();
  }

  /** The task left the node's set: stop and remove its container, report nothing more. */
  leave() {
    if (this.view.desiredState === 'gone') return;
    this.view.desiredState = 'gone';
    this.poke();
  }

  poke() {
    if (this.closed) return;
    this.dirty = true;
    if (!this.running) void this.run();
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.drains?.cancel(this.taskId);
  }

  private async run() {
    this.running = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    try {
      while (this.dirty && !this.closed) {
        const drainLeft = stopping(this.view.desiredState) && this.drainUntil ? this.drainUntil - Date.now() : 0;
        if (drainLeft > 0) {
          const drained = () => {
            this.drainUntil = undefined;
            this.poke();
          };
          if (this.drains) this.drains.wait(this.taskId, this.drainUntil!, drained);
          else this.retryTimer = setTimeout(drained, drainLeft);
          return;
        }
        this.dirty = false;
        for (let i = 0; i < MAX_STEPS_PER_RUN && !this.closed; i++) {
          let result;
          try {
            result = await stepTask(this.view, this.ctlr);
          } catch (err) {
            const delay = this.backoff.next();
            this.log.warn('task step failed; will retry', { task: this.taskId, name: this.name, state: this.view.status.state, error: err, retryInMs: Math.round(delay) });
            this.retryTimer = setTimeout(() => this.poke(), delay);
            return;
          }
          this.backoff.reset();
          if (result === 'idle') {
            if (this.view.desiredState === 'gone') this.done = true;
            break;
          }
          if (result === 'progress') continue;
          this.advance(result.status);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private advance(status: TaskStatus) {
    const from = this.view.status.state;
    if (rank(status.state) <= rank(from)) return; // states never go back
    this.view.status = status;
    const fields = { task: this.taskId, name: this.name, from, to: status.state, ...(status.err ? { err: status.err } : {}) };
    if (isTerminal(status.state) && status.state !== 'complete' && status.state !== 'shutdown') this.log.warn('task ended', fields);
    else this.log.info('task state', fields);
    this.report({ taskId: this.taskId, timestamp: Date.now(), ...status });
  }
}
