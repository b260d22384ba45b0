import { and, eq, inArray, isNull } from 'drizzle-orm';
import { bumpIndex, type Database, type Reader, type Tx } from '../db/database.ts';
import {
  apiKeys,
  clusters,
  type DataPathSettings,
  events,
  joinTokens,
  logChunks,
  logRequests,
  networks,
  payloads,
  nodes,
  services,
  type SwarmSpec,
  tasks,
  tenants,
} from '../db/schema/index.ts';
import { ApiError, notFound } from '../errors.ts';
import { newId, sha256Hex } from '../ids.ts';
import type { KeyRing } from '../auth/envelope.ts';
import { openSigningKey, sealSigningKey } from '../auth/signing-keys.ts';
import { mintApiKey } from './api-keys.ts';
import { createSigningKey, signJoinToken } from '../auth/tokens.ts';
import { createIngressNetwork } from './networks.ts';

export type Cluster = typeof clusters.$inferSelect;
export type Role = 'worker' | 'manager';

/** Docker's SwarmSpec defaults, as `docker swarm init` would store them. */
export function defaultSwarmSpec(name: string): SwarmSpec {
  return {
    Name: name,
    Labels: {},
    Orchestration: { TaskHistoryRetentionLimit: 5 },
    Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
    Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
    CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
    TaskDefaults: {},
    EncryptionConfig: { AutoLockManagers: false },
  };
}

export interface CreatedCluster {
  cluster: Cluster;
  apiKey: string;
}

/** Creates a tenant (if new), a cluster and its first API key in one transaction. */
export async function createCluster(
  database: Database,
  opts: { tenant: string; name: string; initialize: boolean; now: number; keyRing: KeyRing; advertiseUrl?: string; tokenTtlMs?: number },
): Promise<CreatedCluster> {
  const id = newId();
  const signingKey = await sealSigningKey(opts.keyRing, id, await createSigningKey());
  const { apiKey, secretHash } = await mintApiKey();
  const cluster = await database.write(async (tx) => {
    let tenant = await tx.query.tenants.findFirst({ where: eq(tenants.name, opts.tenant) });
    if (!tenant) {
      [tenant] = await tx.insert(tenants).values({ id: newId(), name: opts.tenant, createdAt: opts.now }).returning();
    }
    const existing = await tx.query.clusters.findFirst({
      where: and(eq(clusters.tenantId, tenant!.id), eq(clusters.name, opts.name)),
    });
    if (existing) throw new ApiError('conflict', `cluster '${opts.name}' already exists for tenant '${opts.tenant}'`);
    const [row] = await tx
      .insert(clusters)
      .values({
        id,
        tenantId: tenant!.id,
        name: opts.name,
        managerNodeId: newId(),
        spec: defaultSwarmSpec('default'),
        signingKey,
        advertiseUrl: opts.advertiseUrl ?? null,
        createdAt: opts.now,
        updatedAt: opts.now,
      })
      .returning();
    await tx.insert(apiKeys).values({ id: newId(), clusterId: row!.id, name: 'default', secretHash, createdAt: opts.now });
    if (opts.initialize) return initializeSwarm(tx, row!, opts.now, opts.tokenTtlMs ?? 365 * 24 * 3600_000);
    return row!;
  });
  return { cluster, apiKey };
}

/** Marks the swarm active and issues its first worker and manager join tokens. */
/** What `docker swarm init` may set; left out, the cluster keeps what it has. */
export interface InitOptions {
  advertiseUrl?: string;
  spec?: SwarmSpec;
  dataPath?: DataPathSettings;
}

export async function initializeSwarm(tx: Tx, cluster: Cluster, now: number, tokenTtlMs: number, init: InitOptions = {}) {
  for (const role of ['worker', 'manager'] as const) await issueJoinToken(tx, cluster.id, role, now, tokenTtlMs, true);
  const index = await bumpIndex(tx, cluster.id);
  const [row] = await tx
    .update(clusters)
    .set({
      initializedAt: now,
      version: index,
      updatedAt: now,
      advertiseUrl: init.advertiseUrl ?? cluster.advertiseUrl,
      spec: init.spec ?? cluster.spec,
      dataPath: init.dataPath ?? cluster.dataPath,
    })
    .where(eq(clusters.id, cluster.id))
    .returning();
  await createIngressNetwork(tx, cluster.id, row!.dataPath, now);
  return row!;
}

export async function issueJoinToken(
  tx: Tx,
  clusterId: string,
  role: Role,
  now: number,
  ttlMs: number,
  current: boolean,
  singleUse = false,
): Promise<string> {
  const jti = newId();
  await tx.insert(joinTokens).values({ jti, clusterId, role, current, singleUse, issuedAt: now, expiresAt: now + ttlMs });
  return jti;
}

/** `docker swarm join-token --rotate`: the old token stops working in the same transaction. */
export async function rotateJoinToken(tx: Tx, clusterId: string, role: Role, now: number, ttlMs: number) {
  await tx
    .update(joinTokens)
    .set({ revokedAt: now, current: false })
    .where(and(eq(joinTokens.clusterId, clusterId), eq(joinTokens.role, role), eq(joinTokens.current, true)));
  await issueJoinToken(tx, clusterId, role, now, ttlMs, true);
}

/** The tokens `docker swarm join-token` prints, re-derived from their rows. */
export async function currentJoinTokens(db: Reader, keyRing: KeyRing, cluster: Cluster, issuer: string, target: { url: string; ca?: string }) {
  const rows = await db.query.joinTokens.findMany({
    where: and(eq(joinTokens.clusterId, cluster.id), eq(joinTokens.current, true), isNull(joinTokens.revokedAt)),
  });
  const out: Record<Role, string> = { worker: '', manager: '' };
  const signingKey = rows.length ? await openSigningKey(keyRing, cluster) : undefined;
  for (const row of rows) {
    out[row.role] = await signJoinToken(signingKey!, issuer, {
      clusterId: cluster.id,
      role: row.role,
      jti: row.jti,
      issuedAt: row.issuedAt,
      expiresAt: row.expiresAt,
      ...target,
    });
  }
  return out;
}

/** Resolves a public-API key to its cluster; undefined for unknown or revoked keys. */
export async function clusterForApiKey(db: Reader, secret: string): Promise<Cluster | undefined> {
  // Every Docker API request comes through here (the CLI's progress loop, 15 a second): one query.
  const [row] = await db
    .select({ cluster: clusters })
    .from(apiKeys)
    .innerJoin(clusters, eq(clusters.id, apiKeys.clusterId))
    .where(and(eq(apiKeys.secretHash, await sha256Hex(secret)), isNull(apiKeys.revokedAt)));
  return row?.cluster;
}

/** Every table whose rows belong to one cluster by a `cluster_id` column. */
const CLUSTER_TABLES = [tasks, services, nodes, networks, payloads, joinTokens, apiKeys, events, logRequests] as const;

/**
 * Deletes a cluster and everything of it in one transaction. Rows go by name rather than by the
 * foreign keys' cascade, which a connection without `PRAGMA foreign_keys` would skip, and log
 * chunks have no cluster column at all. With the rows go its API keys (looked up per request) and
 * its nodes' credentials (node-auth reads the node, and the cluster's signing key, per request).
 * The tenant stays: it is the customer, not the cluster.
 */
export async function deleteCluster(database: Database, clusterId: string): Promise<void> {
  await database.write(async (tx) => {
    const row = await tx.query.clusters.findFirst({ columns: { id: true }, where: eq(clusters.id, clusterId) });
    if (!row) throw notFound(`cluster ${clusterId} not found`);
    const requests = tx.select({ id: logRequests.id }).from(logRequests).where(eq(logRequests.clusterId, clusterId));
    await tx.delete(logChunks).where(inArray(logChunks.requestId, requests));
    for (const table of CLUSTER_TABLES) await tx.delete(table).where(eq(table.clusterId, clusterId));
    await tx.delete(clusters).where(eq(clusters.id, clusterId));
  });
}
