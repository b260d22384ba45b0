import { inNextTurn } from '../event-loop-turn.ts';

/**
 * A bounded number of holders per key, in this instance's memory. `tryAcquire` refuses past the
 * bound; `run` queues past it (woken long-polls' reads, a tenant's turns: they wait their turn,
 * first come first served, so one key's crowd cannot keep the database and the event loop to itself).
 */
export class KeyedSlots {
  private readonly held = new Map<string, number>();
  private readonly queued = new Map<string, Array<() => void>>();

  constructor(private readonly limit: number) {}

  /** A release function when a slot was free, else undefined. A limit of 0 means no limit. */
  tryAcquire(key: string): (() => void) | undefined {
    if (this.limit > 0 && (this.held.get(key) ?? 0) >= this.limit) return undefined;
    this.held.set(key, (this.held.get(key) ?? 0) + 1);
    return this.releaser(key);
  }

  /**
   * Runs `fn` once one of the key's slots is free. A freed slot passes straight to the first in
   * the queue: were it put back for anyone to take, a newcomer would take it before the woken
   * waiter ran, and that waiter would queue again at the back, as often as it lost, which left
   * woken long-polls of a busy cluster waiting for their read for tens of seconds (issue 13).
   */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release =
      (!this.queued.has(key) && this.tryAcquire(key)) ||
      (await new Promise<() => void>((resolve) => {
        let queue = this.queued.get(key);
        if (!queue) this.queued.set(key, (queue = []));
        queue.push(() => resolve(this.releaser(key)));
      }));
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Frees one held slot of `key`, once however often it is called. */
  private releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(key);
    };
  }

  holding(key: string): number {
    return this.held.get(key) ?? 0;
  }

  private release(key: string): void {
    const queue = this.queued.get(key);
    const next = queue?.shift();
    if (queue && queue.length === 0) this.queued.delete(key);
    // The slot goes on held by the next in line, so the count does not change; it runs in a later
    // turn: a crowd of waiters must not run back to back in one (event-loop-turn.ts).
    if (next) return inNextTurn(next);
    const left = (this.held.get(key) ?? 1) - 1;
    if (left > 0) this.held.set(key, left);
    else this.held.delete(key);
  }
}
