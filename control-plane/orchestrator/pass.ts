/**
 * What the steps of one orchestration pass share: the transaction, the state read at its start
 * (each step updates it as it writes, so later steps decide on what earlier ones did), one change
 * index for every row it writes, and whose long-polls its writes concern.
 */
import { eq } from 'drizzle-orm';
import { bumpIndex, type Tx } from '../db/database.ts';
import { clusters } from '../db/schema/index.ts';
import { wakeEveryone, wakeNodes } from '../db/wake.ts';
import { publishesIngress } from '../swarm/ingress-ports.ts';
import { type ClusterState, loadClusterState } from './cluster-state.ts';

type ClusterRow = Pick<typeof clusters.$inferSelect, 'changeIndex' | 'spec'>;

export class Pass {
  /** The change index this pass writes at, once it has written anything. */
  index: number | undefined;
  /** Ingress services as this transaction sees them: a task of a removed one is no one's backend any more. */
  private readonly ingress: ReadonlySet<string>;

  private constructor(
    readonly tx: Tx,
    readonly clusterId: string,
    readonly now: number,
    readonly cluster: ClusterRow | undefined,
    readonly state: ClusterState,
  ) {
    this.ingress = new Set(state.services.filter(publishesIngress).map((s) => s.id));
  }

  /** Reads the cluster (one service of it, for an API write) inside the caller's transaction. */
  static async begin(tx: Tx, clusterId: string, now: number, serviceId?: string): Promise<Pass> {
    const [cluster] = await tx.select({ changeIndex: clusters.changeIndex, spec: clusters.spec }).from(clusters).where(eq(clusters.id, clusterId));
    const state = await loadClusterState(tx, clusterId, serviceId);
    // The pass says whom its writes concern: one that changes no node's tasks wakes no one.
    wakeNodes(tx, []);
    return new Pass(tx, clusterId, now, cluster, state);
  }

  /** The version every row written by this pass carries: the cluster's index, raised once. */
  async version(): Promise<number> {
    return (this.index ??= await bumpIndex(this.tx, this.clusterId));
  }

  /**
   * Tasks were written (made, stopped, placed or explained): their nodes' long-polls wake, or
   * everyone's for a task of a service publishing ingress ports, a routing-mesh backend on every
   * node. A task on no node yet concerns no one's assignments.
   */
  tasksWritten(written: Iterable<{ serviceId: string; nodeId: string | null }>): void {
    for (const t of written) {
      if (!this.ingress.has(t.serviceId)) wakeNodes(this.tx, [t.nodeId]);
      else {
        wakeEveryone(this.tx);
        return;
      }
    }
  }

  /** Nodes' own rows changed (marked down): part of their own answers' index only. */
  nodesWritten(nodeIds: string[]): void {
    wakeNodes(this.tx, nodeIds);
  }
}

const CHUNK = 400; // keeps `IN (...)` lists under SQLite's variable limit

export function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}
