import { bumpedIndex, type Database, type Tx } from './db/database.ts';
import type { AppDeps } from './deps.ts';
import type { ChangedNodes } from './notifier.ts';
import type { Cluster } from './swarm/clusters.ts';

export interface AppEnv {
  Variables: { deps: AppDeps; cluster: Cluster };
}

/**
 * Runs one write transaction for a cluster, then wakes whoever waits on that cluster's index.
 * Every public write goes through here: one transaction per decision. A writer that knows whose
 * assignments it changed says so in `nodes`, asked once the transaction has committed, and only
 * those nodes' long-polls wake; without it (or when it answers undefined) every waiter wakes.
 */
export async function writeCluster<T>(
  deps: AppDeps,
  clusterId: string,
  fn: (tx: Tx) => Promise<T>,
  nodes?: () => ChangedNodes,
): Promise<T> {
  let index: number | undefined;
  const result = await deps.database.write(async (tx) => {
    const value = await fn(tx);
    index = bumpedIndex(tx, clusterId);
    return value;
  });
  if (index !== undefined) deps.notifier.publish(clusterId, index, nodes?.());
  return result;
}

/** The URL agents of this cluster use, and the host:port `docker swarm join-token` prints. */
export function clusterUrl(deps: AppDeps, cluster: Cluster): string {
  return cluster.advertiseUrl ?? deps.publicUrl();
}

export function clusterAddr(deps: AppDeps, cluster: Cluster): string {
  return new URL(clusterUrl(deps, cluster)).host;
}
