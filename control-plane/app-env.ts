import { bumpedIndex, type Database, type Tx } from './db/database.ts';
import type { AppDeps } from './deps.ts';
import type { ChangedNodes } from './notifier.ts';
import { wakeTargets } from './db/wake.ts';
import type { Cluster } from './swarm/clusters.ts';
import { pinFor } from './tls/trust.ts';

export interface AppEnv {
  Variables: { deps: AppDeps; cluster: Cluster };
}

/**
 * Runs one write transaction for a cluster, then wakes whoever waits on that cluster's index.
 * Every public write goes through here: one transaction per decision. Only the long-polls of the
 * nodes the writes recorded (db/wake.ts) wake; a transaction that recorded none wakes every waiter.
 */
export async function writeCluster<T>(deps: AppDeps, clusterId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  let index: number | undefined;
  let nodes: ChangedNodes;
  const result = await deps.database.write(async (tx) => {
    const value = await fn(tx);
    index = bumpedIndex(tx, clusterId);
    nodes = wakeTargets(tx);
    return value;
  });
  if (index !== undefined) deps.notifier.publish(clusterId, index, nodes);
  return result;
}

/** The URL agents of this cluster use, and the host:port `docker swarm join-token` prints. */
export function clusterUrl(deps: AppDeps, cluster: Cluster): string {
  return cluster.advertiseUrl ?? deps.publicUrl();
}

/** Where a join token sends an agent, and the CA it pins there. */
export function joinTarget(deps: AppDeps, cluster: Cluster): { url: string; ca?: string } {
  const url = clusterUrl(deps, cluster);
  const ca = pinFor(deps.trust, url);
  return ca ? { url, ca } : { url };
}

export function clusterAddr(deps: AppDeps, cluster: Cluster): string {
  return new URL(clusterUrl(deps, cluster)).host;
}
