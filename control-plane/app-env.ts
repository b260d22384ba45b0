import type { Config } from './config.ts';
import type { Database, Tx } from './db/database.ts';
import type { Notifier } from './notifier.ts';
import type { Cluster } from './swarm/clusters.ts';
import { clusters } from './db/schema/index.ts';
import { eq } from 'drizzle-orm';

/** What the runtime-neutral app is built from; Node and Workers each supply their own. */
export interface AppDeps {
  database: Database;
  config: Config;
  notifier: Notifier;
  now: () => number;
  /** Where agents reach this control plane when a cluster has no advertise address of its own. */
  publicUrl: () => string;
  /** Who holds the leader lease, for `docker info`. */
  leaseHolder: () => Promise<{ holder: string; epoch: number } | undefined>;
}

export interface AppEnv {
  Variables: { deps: AppDeps; cluster: Cluster };
}

/**
 * Runs one write transaction for a cluster, then wakes whoever waits on that cluster's index.
 * Every public write goes through here: one transaction per decision.
 */
export async function writeCluster<T>(deps: AppDeps, clusterId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const result = await deps.database.write(fn);
  const row = await deps.database.db.query.clusters.findFirst({
    columns: { changeIndex: true },
    where: eq(clusters.id, clusterId),
  });
  if (row) deps.notifier.publish(clusterId, row.changeIndex);
  return result;
}

/** The URL agents of this cluster use, and the host:port `docker swarm join-token` prints. */
export function clusterUrl(deps: AppDeps, cluster: Cluster): string {
  return cluster.advertiseUrl ?? deps.publicUrl();
}

export function clusterAddr(deps: AppDeps, cluster: Cluster): string {
  return new URL(clusterUrl(deps, cluster)).host;
}
