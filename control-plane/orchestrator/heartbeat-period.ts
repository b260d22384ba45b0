import { sql } from 'drizzle-orm';
import type { Config } from '../config.ts';
import type { Reader } from '../db/database.ts';

/**
 * The heartbeat period a cluster's agents are handed: the configured one, lengthened so that the
 * cluster's nodes together beat at most `perSecond` times a second (Nomad caps its servers' heartbeat
 * load the same way, by the TTL it hands each client). A heartbeat costs the control plane an HTTP
 * request whatever else it does, so without the cap a thousand agents would keep a core busy.
 */
export function heartbeatPeriodFor(heartbeat: Config['heartbeat'], nodeCount: number): number {
  if (heartbeat.perSecond <= 0) return heartbeat.periodMs;
  return Math.max(heartbeat.periodMs, Math.ceil((nodeCount * 1000) / heartbeat.perSecond));
}

/** Nodes per cluster (every node, down or not: a node marked down that comes back beats again). */
export async function clusterNodeCounts(db: Reader, clusterId?: string): Promise<Map<string, number>> {
  const rows = await db.all<{ cluster_id: string; n: number }>(
    clusterId === undefined
      ? sql`select cluster_id, count(*) as n from nodes group by cluster_id`
      : sql`select cluster_id, count(*) as n from nodes where cluster_id = ${clusterId} group by cluster_id`,
  );
  return new Map(rows.map((r) => [r.cluster_id, r.n]));
}

/**
 * Each cluster's period as agents are handed it, from a node count read at most every `ttlMs`
 * per cluster: every heartbeat-bearing answer carries it, and the count changes only on joins and
 * removals.
 */
export class HeartbeatPeriods {
  private readonly counted = new Map<string, { n: number; at: number }>();

  constructor(
    private readonly heartbeat: Config['heartbeat'],
    private readonly ttlMs = 5_000,
  ) {}

  async periodMs(db: Reader, clusterId: string): Promise<number> {
    if (this.heartbeat.perSecond <= 0) return this.heartbeat.periodMs;
    const now = performance.now();
    let hit = this.counted.get(clusterId);
    if (!hit || now - hit.at > this.ttlMs) {
      hit = { n: (await clusterNodeCounts(db, clusterId)).get(clusterId) ?? 0, at: now };
      this.counted.set(clusterId, hit);
    }
    return heartbeatPeriodFor(this.heartbeat, hit.n);
  }

  /** A node joined here: count afresh (other instances' joins are counted within the TTL). */
  forget(clusterId: string): void {
    this.counted.delete(clusterId);
  }
}

/**
 * The longest period each cluster's agents may still be using: a period handed out lately stays
 * in force until every agent has had an answer since (a long-poll's longest wait) and a whole
 * grace more, so a cluster that shrank does not mark down nodes still beating at its old period.
 */
export class PeriodsInForce {
  private readonly periods = new Map<string, Array<{ periodMs: number; until: number }>>();

  constructor(private readonly holdMs: number) {}

  /** The period now in force for a cluster of `nodeCount` nodes, at monotonic time `now`. */
  observe(heartbeat: Config['heartbeat'], clusterId: string, nodeCount: number, now = performance.now()): number {
    const periodMs = heartbeatPeriodFor(heartbeat, nodeCount);
    const kept = (this.periods.get(clusterId) ?? []).filter((p) => p.until > now && p.periodMs > periodMs);
    kept.push({ periodMs, until: now + this.holdMs + periodMs * heartbeat.misses });
    this.periods.set(clusterId, kept);
    return Math.max(...kept.map((p) => p.periodMs));
  }

  /** The period last found in force, if the cluster was seen. */
  latest(clusterId: string, now = performance.now()): number | undefined {
    const kept = this.periods.get(clusterId)?.filter((p) => p.until > now);
    return kept?.length ? Math.max(...kept.map((p) => p.periodMs)) : undefined;
  }

  forget(): void {
    this.periods.clear();
  }
}
