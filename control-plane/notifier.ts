/**
 * Wakes long-polls when a cluster's change index moves. A write made in this process publishes at
 * once, with the nodes whose assignments it may have changed when the writer knows them, so only
 * those nodes' long-polls wake; writes made by other instances are seen by a cheap poll of the
 * index that runs only while someone is waiting, and wake every waiter (who they concern is
 * unknown). No waiter holds a database transaction.
 *
 * Targeting is only an optimisation: a woken long-poll still asks the database whether its own
 * answer changed. What must never happen is a waiter left asleep after a change that concerns it,
 * so anything this notifier cannot account for wakes everyone.
 */
export type IndexReader = (clusterId: string) => Promise<number>;

/** The node IDs whose assignments a change may have altered; undefined: unknown, possibly all. */
export type ChangedNodes = ReadonlySet<string> | undefined;

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
  /** The node whose assignments this waiter watches; undefined: every change of the cluster. */
  nodeId: string | undefined;
  wake: (index: number) => void;
}

/** What this instance knows of one cluster's recent changes. */
interface ClusterChanges {
  /** The highest index published here or read by the poll. */
  latest: number;
  /**
   * Every index up to this one was either published here (and woke whom it concerned) or is
   * covered by a wake-all at a higher index. The poll wakes everyone only when it reads an index
   * above this one that was not published here: another instance's write, whose nodes are unknown.
   */
  settled: number;
  /**
   * The nodes each recent index concerned (undefined: everyone), so that a waiter arriving after a
   * publish still sees it. Kept for the indexes above `floor` only.
   */
  recent: Map<number, ChangedNodes>;
  floor: number;
}

/**
 * Indexes remembered per cluster: a few seconds of a busy cluster's commits, far more than come
 * between two polls or between a long-poll's read of the index and its wait. A waiter from before
 * them is answered at once (safe, if maybe spurious).
 */
const RECENT = 256;

const concerns = (nodes: ChangedNodes, nodeId: string | undefined) => nodes === undefined || nodeId === undefined || nodes.has(nodeId);

export class Notifier {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly clusters = new Map<string, ClusterChanges>();
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<(clusterId: string, index: number) => void>();
  /** When each cluster's index was last read (pollFromEachWaiter). */
  private readonly polledAt = new Map<string, number>();

  constructor(
    private readonly readIndex: IndexReader,
    private readonly pollMs = 250,
    private readonly options: NotifierOptions = {},
  ) {}

  private changes(clusterId: string): ClusterChanges {
    let c = this.clusters.get(clusterId);
    if (!c) this.clusters.set(clusterId, (c = { latest: 0, settled: 0, recent: new Map(), floor: 0 }));
    return c;
  }

  /**
   * Called after a transaction commits, with the nodes whose assignments it may have changed when
   * the writer knows them (an empty set: none); without them every waiter of the cluster wakes.
   */
  publish(clusterId: string, index: number, nodes?: ChangedNodes): void {
    const c = this.changes(clusterId);
    // Already covered by a wake-all (or accounted for by the poll): whoever it concerned was woken.
    if (index <= c.settled) return;
    // Commits may publish out of order (they finish on their own schedule), so a lower index than
    // the latest still wakes whom it concerns. The same index twice is unexpected: wake everyone.
    if (c.recent.has(index)) nodes = undefined;
    c.recent.set(index, nodes);
    if (c.recent.size > RECENT) {
      for (const old of c.recent.keys()) {
        c.recent.delete(old);
        c.floor = Math.max(c.floor, old);
        if (c.recent.size <= RECENT) break;
      }
    }
    // A wake-all wakes every waiter from before it: nothing at or below it can still be missed.
    if (nodes === undefined) c.settled = index;
    if (index > c.latest) {
      c.latest = index;
      for (const listener of this.listeners) listener(clusterId, index);
    }
    const set = this.waiters.get(clusterId);
    if (!set) return;
    // Woken with the latest index: it has committed, so the re-read that follows sees everything up to it.
    for (const waiter of set) if (index > waiter.since && concerns(nodes, waiter.nodeId)) waiter.wake(c.latest);
  }

  /**
   * The poll read the cluster's index. Indexes this process published have woken whom they
   * concern; any other one (another instance's write, or one of ours not yet published) may
   * concern anyone, so the highest of them wakes every waiter from before it. A waiter from after
   * it read the database after those commits and has nothing to learn from them.
   */
  private observe(clusterId: string, index: number): void {
    const c = this.changes(clusterId);
    if (index <= c.settled) return;
    // Downwards: stops at the first index not published here, after at most `RECENT` steps.
    for (let i = index; i > c.settled; i--) {
      if (c.recent.has(i)) continue;
      this.publish(clusterId, i);
      break;
    }
    c.settled = index;
  }

  /** Observers of every change (the leader loop uses this to react without polling). */
  subscribe(listener: (clusterId: string, index: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with a cluster index above `since` once a change that may concern `nodeId` (any
   * change, without one) was published, or with `since` when `timeoutMs` passes or the signal
   * aborts. The caller then decides whether what it watches really changed. The index it resolves
   * with has committed: a read made afterwards sees every change up to it, so the caller may wait
   * from it next.
   */
  waitForChange(clusterId: string, since: number, timeoutMs: number, signal?: AbortSignal, nodeId?: string): Promise<number> {
    const c = this.clusters.get(clusterId);
    if (c && c.latest > since && this.missed(c, since, nodeId)) return Promise.resolve(c.latest);
    return new Promise((resolve) => {
      let set = this.waiters.get(clusterId);
      if (!set) this.waiters.set(clusterId, (set = new Set()));
      let done = false;
      const waiter: Waiter = {
        since,
        nodeId,
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

  /** Whether a change above `since` that may concern `nodeId` was published before its waiter came. */
  private missed(c: ClusterChanges, since: number, nodeId: string | undefined): boolean {
    // Forgotten changes may have concerned it.
    if (since < c.floor) return true;
    for (const [index, nodes] of c.recent) if (index > since && concerns(nodes, nodeId)) return true;
    return false;
  }

  /** One waiter's tick: reads the index unless another waiter just did. */
  private async pollCluster(clusterId: string): Promise<void> {
    const now = Date.now();
    if (now - (this.polledAt.get(clusterId) ?? 0) < this.pollMs / 2) return;
    this.polledAt.set(clusterId, now);
    try {
      this.observe(clusterId, await this.readIndex(clusterId));
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
          this.observe(clusterId, await this.readIndex(clusterId));
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
