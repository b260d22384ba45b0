import type { Logger } from '../../protocol/log.ts';

/** How often the control plane is asked while some task drains. */
const ASK_EVERY_MS = 100;
/** The most task IDs one question may name (the control plane's DRAINS_MAX_TASKS). */
const ASK_MAX_TASKS = 100;

interface Waiting {
  until: number;
  done: () => void;
}

/**
 * A stopping task that was a backend keeps running until no host sends it new connections: the
 * control plane knows when every host routing to it has applied the answer that took it out. This
 * asks it, a few times a second, about every task of the host that drains, in one request; a task
 * whose bound passes stops anyway (a host that is silent but not yet down, an unreachable control plane).
 */
export class DrainWatch {
  private readonly waiting = new Map<string, Waiting>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ask: (taskIds: string[]) => Promise<string[]>,
    private readonly log: Logger,
  ) {}

  /** Calls `done` once, when no host routes to the task any more or at `until`, whichever comes first. */
  wait(taskId: string, until: number, done: () => void) {
    this.waiting.set(taskId, { until, done });
    this.timer ??= setTimeout(() => void this.tick(), 0);
  }

  cancel(taskId: string) {
    this.waiting.delete(taskId);
  }

  close() {
    clearTimeout(this.timer);
    this.waiting.clear();
  }

  private finish(taskId: string) {
    const w = this.waiting.get(taskId);
    this.waiting.delete(taskId);
    w?.done();
  }

  private async tick() {
    const now = Date.now();
    for (const [id, w] of this.waiting) if (w.until <= now) this.finish(id);
    const ids = [...this.waiting.keys()];
    for (let i = 0; i < ids.length; i += ASK_MAX_TASKS) {
      try {
        for (const id of await this.ask(ids.slice(i, i + ASK_MAX_TASKS))) this.finish(id);
      } catch (err) {
        // Asked again next tick; the bound stops the task if no answer comes.
        this.log.debug('cannot ask which tasks drained; will ask again', { error: err });
      }
    }
    this.timer = this.waiting.size ? setTimeout(() => void this.tick(), ASK_EVERY_MS) : undefined;
  }
}
