import { and, asc, eq } from 'drizzle-orm';
import type { Database, Tx } from '../db/database.ts';
import { apiKeys, clusters } from '../db/schema/index.ts';
import { ApiError, notFound } from '../errors.ts';
import { newId, newSecret, sha256Hex } from '../ids.ts';

type ApiKeyRow = typeof apiKeys.$inferSelect;

/** What the admin API shows of a key: never the secret, nor its hash (a hash of a random key is as good as the key to whoever holds the database). */
export interface ApiKeyInfo {
  id: string;
  name: string;
  createdAt: string;
  revokedAt: string | null;
}

/** A key just made: the only moment its secret exists outside the caller's hands. */
export interface IssuedApiKey extends ApiKeyInfo {
  apiKey: string;
}

const info = (row: ApiKeyRow): ApiKeyInfo => ({
  id: row.id,
  name: row.name,
  createdAt: new Date(row.createdAt).toISOString(),
  revokedAt: row.revokedAt === null ? null : new Date(row.revokedAt).toISOString(),
});

export async function mintApiKey(): Promise<{ apiKey: string; secretHash: string }> {
  const apiKey = `swl_${newSecret()}`;
  return { apiKey, secretHash: await sha256Hex(apiKey) };
}

async function insertApiKey(tx: Tx, clusterId: string, name: string, now: number): Promise<IssuedApiKey> {
  const { apiKey, secretHash } = await mintApiKey();
  const [row] = await tx.insert(apiKeys).values({ id: newId(), clusterId, name, secretHash, createdAt: now }).returning();
  return { ...info(row!), apiKey };
}

async function requireCluster(tx: Tx | Database['db'], clusterId: string): Promise<void> {
  const row = await tx.query.clusters.findFirst({ columns: { id: true }, where: eq(clusters.id, clusterId) });
  if (!row) throw notFound(`cluster ${clusterId} not found`);
}

async function requireKey(tx: Tx, clusterId: string, keyId: string): Promise<ApiKeyRow> {
  await requireCluster(tx, clusterId);
  const row = await tx.query.apiKeys.findFirst({ where: and(eq(apiKeys.id, keyId), eq(apiKeys.clusterId, clusterId)) });
  if (!row) throw notFound(`API key ${keyId} not found in cluster ${clusterId}`);
  return row;
}

/** A new API key for a cluster; returns the secret, which is stored only as its hash. */
export async function addApiKey(database: Database, clusterId: string, name: string, now: number): Promise<string> {
  return (await issueApiKey(database, clusterId, name, now)).apiKey;
}

export function issueApiKey(database: Database, clusterId: string, name: string, now: number): Promise<IssuedApiKey> {
  return database.write(async (tx) => {
    await requireCluster(tx, clusterId);
    return insertApiKey(tx, clusterId, name, now);
  });
}

/** A cluster's keys, revoked ones too (with when), oldest first. */
export async function listApiKeys(database: Database, clusterId: string): Promise<ApiKeyInfo[]> {
  await requireCluster(database.db, clusterId);
  const rows = await database.db.query.apiKeys.findMany({ where: eq(apiKeys.clusterId, clusterId), orderBy: [asc(apiKeys.createdAt), asc(apiKeys.id)] });
  return rows.map(info);
}

/**
 * Revokes a key: the next request with it is refused, since every request looks its key up.
 * Revoking a revoked key changes nothing (its revocation time stays the first one).
 */
export function revokeApiKey(database: Database, clusterId: string, keyId: string, now: number): Promise<void> {
  return database.write(async (tx) => {
    const row = await requireKey(tx, clusterId, keyId);
    if (row.revokedAt === null) await tx.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, row.id));
  });
}

/**
 * Replaces a key with a new one of the same name, the old one revoked in the same transaction: a
 * rotation is most often for a key that leaked, so it ends at once. Whoever needs both for a
 * while creates a second key first and revokes the old one when every client has the new one.
 */
export function rotateApiKey(database: Database, clusterId: string, keyId: string, now: number): Promise<IssuedApiKey & { replaces: string }> {
  return database.write(async (tx) => {
    const row = await requireKey(tx, clusterId, keyId);
    if (row.revokedAt !== null) throw new ApiError('conflict', `API key ${keyId} is already revoked; create a new key instead`);
    await tx.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, row.id));
    return { ...(await insertApiKey(tx, clusterId, row.name, now)), replaces: row.id };
  });
}
