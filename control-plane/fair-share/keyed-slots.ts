import { inNextTurn } from '../event-loop-turn.ts';

/**
 * A bounded number of holders per key, in this instance's memory. `tryAcquire` refuses past the
 * bound (long-polls: the caller answers 429); `run` queues past it (reads: they wait their turn,
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
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(key);
    };
  }

  /** Runs `fn` once one of the key's slots is free. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let release = this.tryAcquire(key);
    while (!release) {
      await new Promise<void>((resolve) => {
        let queue = this.queued.get(key);
        if (!queue) this.queued.set(key, (queue = []));
        queue.push(resolve);
      });
      release = this.tryAcquire(key);
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }

  holding(key: string): number {
    return this.held.get(key) ?? 0;
  }

  private release(key: string): void {
    const left = (this.held.get(key) ?? 1) - 1;
    if (left > 0) this.held.set(key, left);
    else this.held.delete(key);
    const queue = this.queued.get(key);
    const next = queue?.shift();
    if (queue && queue.length === 0) this.queued.delete(key);
    // In a later turn: a crowd of waiters must not run back to back in one (event-loop-turn.ts).
    if (next) inNextTurn(next);
  }
}
