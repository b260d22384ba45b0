/**
 * Wakes long-polls when a cluster's change index moves. A write made in this process publishes at
 * once; writes made by other instances are seen by a cheap poll of the index that runs only while
 * someone is waiting. No waiter holds a database transaction.
 */
export type IndexReader = (clusterId: string) => Promise<number>;

interface Waiter {
  since: number;
  wake: (index: number) => void;
}

export class Notifier {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly latest = new Map<string, number>();
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<(clusterId: string, index: number) => void>();

  constructor(
    private readonly readIndex: IndexReader,
    private readonly pollMs = 250,
  ) {}

  /** Called after a transaction commits. */
  publish(clusterId: string, index: number): void {
    const known = this.latest.get(clusterId) ?? 0;
    if (index <= known) return;
    this.latest.set(clusterId, index);
    for (const listener of this.listeners) listener(clusterId, index);
    const set = this.waiters.get(clusterId);
    if (!set) return;
    for (const waiter of set) if (index > waiter.since) waiter.wake(index);
  }

  /** Observers of every change (the leader loop uses this to react without polling). */
  subscribe(listener: (clusterId: string, index: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the first cluster index above `since`, or with `since` when `timeoutMs` passes or
   * the signal aborts. The caller then decides whether what it watches really changed.
   */
  waitForChange(clusterId: string, since: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const known = this.latest.get(clusterId) ?? 0;
    if (known > since) return Promise.resolve(known);
    return new Promise((resolve) => {
      let set = this.waiters.get(clusterId);
      if (!set) this.waiters.set(clusterId, (set = new Set()));
      const waiter: Waiter = {
        since,
        wake: (index) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          set.delete(waiter);
          if (set.size === 0) this.waiters.delete(clusterId);
          resolve(index);
        },
      };
      const onAbort = () => waiter.wake(since);
      const timer = setTimeout(onAbort, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
      this.schedulePoll();
    });
  }

  private schedulePoll(): void {
    if (this.pollTimer || this.waiters.size === 0) return;
    this.pollTimer = setTimeout(async () => {
      this.pollTimer = undefined;
      for (const clusterId of [...this.waiters.keys()]) {
        try {
          this.publish(clusterId, await this.readIndex(clusterId));
        } catch {
          // A failed poll is retried on the next tick; waiters still time out on their own.
        }
      }
      this.schedulePoll();
    }, this.pollMs);
  }

  close(): void {
    clearTimeout(this.pollTimer);
    for (const set of this.waiters.values()) for (const waiter of set) waiter.wake(waiter.since);
  }
}
