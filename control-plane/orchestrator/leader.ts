import type { AppDeps } from '../deps.ts';
import { wakeTargets } from '../db/wake.ts';
import type { ChangedNodes } from '../notifier.ts';
import { clusterIndexes, nodeSilence } from './cluster-state.ts';
import { acquireLease, assertLease, type Lease, LeaseLost, releaseLease } from './lease.ts';
import { dropExpiredRows } from './housekeeping.ts';
import { orchestrateCluster, type OrchestrationResult } from './orchestrate.ts';
import { ServedClock } from './served-clock.ts';
import { heartbeatPeriodFor, PeriodsInForce } from './heartbeat-period.ts';

export interface LeaderPass extends OrchestrationResult {
  /** Whose long-polls the pass's writes concern, as its transaction recorded them; undefined: everyone. */
  wake: ChangedNodes;
}

/**
 * One leader pass over a cluster: fenced by the lease epoch inside its own transaction. Nodes whose
 * last heartbeat is before `silentBefore` are marked down: by default (Workers) a grace of the
 * cluster's heartbeat period times the misses back in wall time; the Node leader passes its
 * served clock's.
 */
export async function orchestrateAsLeader(
  deps: Pick<AppDeps, 'database' | 'config' | 'metrics'>,
  lease: Lease,
  clusterId: string,
  now: number,
  housekeeping = false,
  silentBefore = (nodeCount: number) => now - heartbeatPeriodFor(deps.config.heartbeat, nodeCount) * deps.config.heartbeat.misses,
  heardUnwritten?: (nodeId: string) => boolean,
): Promise<LeaderPass> {
  const { config } = deps;
  const started = performance.now();
  const pass = await deps.database.write(async (tx) => {
    await assertLease(tx, lease.holder, lease.epoch);
    if (housekeeping) await dropExpiredRows(tx, clusterId, now, config);
    const result = await orchestrateCluster(tx, clusterId, now, {
      schedule: true,
      silentBefore,
      heardUnwritten,
      historyPerSlot: config.taskHistoryPerSlot,
    });
    return { ...result, wake: wakeTargets(tx) };
  });
  deps.metrics.recordPass(clusterId, started, pass.placed);
  return pass;
}

export interface LeaderEvents {
  onLeadership?: (lease: Lease | undefined) => void;
  /** Every committed pass, with the epoch it committed under (tests and logs use this). */
  onCommit?: (info: { clusterId: string; index: number; epoch: number; placed: number }) => void;
}

/**
 * Runs the reconciler and scheduler while this instance holds the leader lease. Passes are
 * debounced (a short quiet gap, bounded by a maximum delay) and batched per cluster; each pass is
 * one transaction that first re-checks the lease epoch, so a paused or deposed leader commits
 * nothing. A cluster is visited when its change index moved, when a timer falls due, or on the
 * liveness sweep.
 */
export class LeaderLoop {
  private lease: Lease | undefined;
  /** Monotonic deadline after which this instance stops acting as leader without a renewal. */
  private leaseDeadline = 0;
  private stopped = false;
  private timers: Array<ReturnType<typeof setTimeout>> = [];
  private dirty = new Set<string>();
  private seen = new Map<string, number>();
  /** Clusters whose next pass also drops expired rows. */
  private housekeep = new Set<string>();
  private lastHousekeeping = 0;
  private wakeAt = new Map<string, number>();
  private passTimer: ReturnType<typeof setTimeout> | undefined;
  private firstDirtyAt = 0;
  /** The last round of passes: when it ended and how long it took (performance.now() ms). */
  private lastPasses = { endedAt: 0, tookMs: 0 };
  private running: Promise<void> | undefined;
  private unsubscribe: () => void;
  /** Node silence is judged in the time this instance could serve, counted from its leadership. */
  private readonly served: ServedClock;
  /** The heartbeat period each cluster's agents may still be using (it grows with the cluster). */
  private readonly periods: PeriodsInForce;

  private readonly database: AppDeps['database'];
  private readonly config: AppDeps['config'];
  private readonly notifier: AppDeps['notifier'];
  private readonly log: AppDeps['log'];
  private readonly now: () => number;

  constructor(
    private readonly deps: Pick<AppDeps, 'database' | 'config' | 'notifier' | 'log' | 'now' | 'metrics' | 'statusBatcher'>,
    private readonly events: LeaderEvents = {},
  ) {
    ({ database: this.database, config: this.config, notifier: this.notifier, log: this.log, now: this.now } = deps);
    const period = this.config.heartbeat.periodMs;
    // A tick a quarter period at most, and a quarter period of lag counted in full: a loop busy
    // enough to read heartbeats a little late still counts; one that stood still for seconds does not.
    this.served = new ServedClock({ tickMs: Math.max(10, Math.min(100, period / 4)), toleranceMs: period / 4 }, this.now);
    this.periods = new PeriodsInForce(this.config.longPollMaxWaitMs);
    this.unsubscribe = this.notifier.subscribe((clusterId, index) => {
      if ((this.seen.get(clusterId) ?? 0) < index) this.markDirty(clusterId);
    });
  }

  get isLeader(): boolean {
    return this.lease !== undefined && performance.now() < this.leaseDeadline;
  }

  get epoch(): number | undefined {
    return this.lease?.epoch;
  }

  start(): void {
    this.served.start();
    void this.renew();
    this.sweepLoop();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const started = performance.now();
    let lease: Lease | undefined;
    try {
      lease = await acquireLease(this.database, this.config.instanceId, this.config.lease.ttlMs);
    } catch (err) {
      this.log.error('lease renewal failed', { error: err });
    }
    const was = this.lease?.epoch;
    this.lease = lease;
    // Our own deadline counts from before the renewal was sent, on a clock no one can set back.
    this.leaseDeadline = lease ? started + this.config.lease.ttlMs - this.config.lease.renewMs / 2 : 0;
    if (lease?.epoch !== was) {
      this.events.onLeadership?.(lease);
      // A new epoch may follow writes by another leader: look at every cluster afresh.
      this.seen.clear();
      this.wakeAt.clear();
      // Heartbeats written while another instance led, or none led, were not this leader's to judge.
      if (lease) this.served.restart();
      this.periods.forget();
      if (lease) await this.sweepAll();
    }
    this.after(lease ? this.config.lease.renewMs : this.config.lease.retryMs, () => this.renew());
  }

  private after(ms: number, fn: () => void) {
    // A renewal in flight when stop() ran must not schedule the next one.
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers = this.timers.filter((x) => x !== t);
      fn();
    }, ms);
    this.timers.push(t);
  }

  /** One sweep chain for the life of the loop, at most a heartbeat period apart. */
  private sweepLoop() {
    this.after(Math.min(1000, this.config.heartbeat.periodMs), async () => {
      await this.sweepAll();
      if (!this.stopped) this.sweepLoop();
    });
  }

  /**
   * Finds the clusters that need a pass although nothing woke the loop: their index moved (another
   * instance wrote), a delayed restart fell due, or a node's heartbeats stopped. Cheap queries
   * only; a cluster with none of these is left alone rather than re-read whole every sweep.
   */
  private async sweepAll(): Promise<void> {
    if (this.stopped || !this.isLeader) return;
    try {
      const now = this.now();
      const indexes = await clusterIndexes(this.database.db);
      const silence = await nodeSilence(this.database.db);
      const housekeeping = now - this.lastHousekeeping >= this.config.housekeepingMs;
      if (housekeeping) this.lastHousekeeping = now;
      for (const [clusterId, index] of indexes) {
        const due = (this.wakeAt.get(clusterId) ?? Infinity) <= now;
        if (housekeeping) this.housekeep.add(clusterId);
        const nodes = silence.get(clusterId);
        const silent = nodes?.oldestBeat !== undefined && nodes.oldestBeat < this.silentBefore(clusterId, nodes.count);
        if ((this.seen.get(clusterId) ?? 0) < index || due || silent || housekeeping) this.dirty.add(clusterId);
      }
      this.schedulePass();
    } catch (err) {
      this.log.error('sweep failed', { error: err });
    }
  }

  /** Nodes of a cluster of `nodeCount` that last beat before this are down: a grace of served time at the period in force. */
  private silentBefore(clusterId: string, nodeCount: number): number {
    const periodMs = this.periods.observe(this.config.heartbeat, clusterId, nodeCount);
    return this.served.silentBefore(periodMs * this.config.heartbeat.misses);
  }

  private markDirty(clusterId: string) {
    this.dirty.add(clusterId);
    this.schedulePass();
  }

  /**
   * swarmkit's debounce: wait for a 50 ms quiet gap, but never more than 1 s after the first change.
   * And passes take at most half the process's time: after a round of P ms the next waits P ms.
   * A pass over 100,000 tasks takes a second or more, and the reports it causes make the next one
   * due at once: back to back, they left the agents' requests and reports the gaps between.
   */
  private schedulePass() {
    if (!this.isLeader || this.stopped || this.dirty.size === 0) return;
    const t = performance.now();
    if (!this.passTimer) this.firstDirtyAt = t;
    clearTimeout(this.passTimer);
    const rest = this.lastPasses.endedAt + this.lastPasses.tookMs - t;
    const delay = Math.max(0, rest, Math.min(50, this.firstDirtyAt + 1000 - t));
    this.passTimer = setTimeout(() => {
      this.passTimer = undefined;
      void this.runPasses();
    }, delay);
  }

  private async runPasses(): Promise<void> {
    if (this.running) {
      await this.running;
      return this.schedulePass();
    }
    const started = performance.now();
    this.running = this.passes().finally(() => {
      this.running = undefined;
      const endedAt = performance.now();
      this.lastPasses = { endedAt, tookMs: endedAt - started };
    });
    await this.running;
    if (this.dirty.size) this.schedulePass();
  }

  private async passes(): Promise<void> {
    const lease = this.lease;
    if (!lease || !this.isLeader) return;
    const clustersToRun = [...this.dirty];
    this.dirty.clear();
    for (const clusterId of clustersToRun) {
      if (!this.isLeader) return;
      try {
        const now = this.now();
        const result = await orchestrateAsLeader(
          this.deps,
          lease,
          clusterId,
          now,
          this.housekeep.delete(clusterId),
          (nodeCount) => this.silentBefore(clusterId, nodeCount),
          (nodeId) => this.deps.statusBatcher.heardUnwritten(nodeId),
        );
        if (result.wakeAt) this.wakeAt.set(clusterId, result.wakeAt);
        else this.wakeAt.delete(clusterId);
        this.seen.set(clusterId, Math.max(this.seen.get(clusterId) ?? 0, result.index ?? result.observedIndex));
        if (result.index !== undefined) {
          // Only the long-polls of the nodes the pass touched wake (all of them when it cannot tell).
          this.notifier.publish(clusterId, result.index, result.wake);
          this.events.onCommit?.({ clusterId, index: result.index, epoch: lease.epoch, placed: result.placed });
        }
      } catch (err) {
        if (err instanceof LeaseLost) {
          // A renewal may have won a newer epoch meanwhile; only the epoch that was lost is dropped.
          if (this.lease?.epoch === lease.epoch) {
            this.lease = undefined;
            this.leaseDeadline = 0;
            this.events.onLeadership?.(undefined);
          }
          this.dirty.add(clusterId);
          return;
        }
        this.log.error('orchestration pass failed', { cluster: clusterId, error: err });
        this.dirty.add(clusterId);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.served.stop();
    this.unsubscribe();
    clearTimeout(this.passTimer);
    for (const t of this.timers) clearTimeout(t);
    await this.running;
    if (this.lease) await releaseLease(this.database, this.config.instanceId).catch(() => undefined);
  }
}
