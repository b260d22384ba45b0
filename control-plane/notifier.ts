/**
 * Wakes long-polls when a cluster's change index moves. A write made in this process publishes at
 * once; writes made by other instances are seen by a cheap poll of the index that runs only while
 * someone is waiting. No waiter holds a database transaction.
 */
export type IndexReader = (clusterId: string) => Promise<number>;

export interface NotifierOptions {
  /**
   * Poll from each waiter's own timer instead of one shared timer. Needed on Cloudflare Workers: a
   * timer belongs to the request that set it and never fires once that request has ended, so a
   * shared poller started by one long-poll dies with it and later waiters are never woken by other
   * instances' writes. The reads stay shared: a waiter reads its cluster's index only when no
   * waiter has started a read of it within the last half poll period.
   */
  pollFromEachWaiter?: boolean;
}

interface Waiter {
  since: number;
  wake: (index: number) => void;
}

export class Notifier {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly latest = new Map<string, number>();
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<(clusterId: string, index: number) => void>();
  /** When each cluster's index was last read (pollFromEachWaiter). */
  private readonly polledAt = new Map<string, number>();

  constructor(
    private readonly readIndex: IndexReader,
    private readonly pollMs = 250,
    private readonly options: NotifierOptions = {},
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
      let done = false;
      const waiter: Waiter = {
        since,
        // Idempotent: on Workers a publish from another request cannot clear this request's
        // timers, so the timeout may still fire after a wake and must then change nothing.
        wake: (index) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          clearInterval(ticker);
          signal?.removeEventListener('abort', onAbort);
          set.delete(waiter);
          if (set.size === 0 && this.waiters.get(clusterId) === set) this.waiters.delete(clusterId);
          resolve(index);
        },
      };
      const onAbort = () => waiter.wake(since);
      const timer = setTimeout(onAbort, timeoutMs);
      const ticker = this.options.pollFromEachWaiter ? setInterval(() => void this.pollCluster(clusterId), this.pollMs) : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
      if (!this.options.pollFromEachWaiter) this.schedulePoll();
    });
  }

  /** One waiter's tick: reads the index unless another waiter just did. */
  private async pollCluster(clusterId: string): Promise<void> {
    const now = Date.now();
    if (now - (this.polledAt.get(clusterId) ?? 0) < this.pollMs / 2) return;
    this.polledAt.set(clusterId, now);
    try {
      this.publish(clusterId, await this.readIndex(clusterId));
    } catch {
      // A failed poll is retried on the next tick; waiters still time out on their own.
    }
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
