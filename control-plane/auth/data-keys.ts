import { and, eq, isNotNull } from 'drizzle-orm';
import type { Database, Reader, Tx } from '../db/database.ts';
import { clusters } from '../db/schema/index.ts';
import { ApiError } from '../errors.ts';
import { type KeyRing, keyRingFrom, open, seal, sealedWith } from './envelope.ts';

/**
 * Envelope encryption of a cluster's Docker secrets: each value is sealed (envelope.ts) with the
 * cluster's own data key, and the data key is stored only sealed with the KEK. Rotating the KEK
 * seals the few data keys again; the secrets themselves stay as they are.
 */
const dataKeyContext = (clusterId: string) => `data-key:${clusterId}`;
const secretContext = (clusterId: string, secretId: string) => `secret:${clusterId}:${secretId}`;

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** The data key as a ring of one, so the one envelope format seals secrets too. */
async function dataKeyRing(kek: KeyRing, clusterId: string, sealed: string): Promise<KeyRing> {
  const raw = await open(kek, sealed, dataKeyContext(clusterId));
  return keyRingFrom([base64(raw)]);
}

/** The cluster's data key, made (and stored sealed) in this transaction if it has none yet. */
async function dataKeyFor(tx: Tx, kek: KeyRing, clusterId: string): Promise<KeyRing> {
  const row = await tx.query.clusters.findFirst({ columns: { sealedDataKey: true }, where: eq(clusters.id, clusterId) });
  if (!row) throw new ApiError('not_found', `cluster ${clusterId} not found`);
  let sealed = row.sealedDataKey;
  if (!sealed) {
    sealed = await seal(kek, crypto.getRandomValues(new Uint8Array(32)), dataKeyContext(clusterId));
    await tx.update(clusters).set({ sealedDataKey: sealed }).where(eq(clusters.id, clusterId));
  }
  return dataKeyRing(kek, clusterId, sealed);
}

/** Seals a secret's value for its row: the envelope opens only for this cluster and this secret ID. */
export async function sealSecretValue(tx: Tx, kek: KeyRing, clusterId: string, secretId: string, value: Uint8Array): Promise<string> {
  return seal(await dataKeyFor(tx, kek, clusterId), value, secretContext(clusterId, secretId));
}

/** Opens the secrets of one cluster, the data key opened once for all of them. */
export async function secretOpener(db: Reader, kek: KeyRing, clusterId: string): Promise<(secretId: string, sealed: string) => Promise<Uint8Array>> {
  const row = await db.query.clusters.findFirst({ columns: { sealedDataKey: true }, where: eq(clusters.id, clusterId) });
  if (!row?.sealedDataKey) throw new ApiError('internal', `cluster ${clusterId} has secrets but no data key`);
  const ring = await dataKeyRing(kek, clusterId, row.sealedDataKey);
  return (secretId, sealed) => open(ring, sealed, secretContext(clusterId, secretId));
}

/**
 * Run at start, after a KEK rotation: seals every data key sealed with an older KEK again with the
 * current one. A row is replaced only if no other instance replaced it meanwhile.
 */
export async function resealDataKeysAtRest(database: Database, kek: KeyRing): Promise<number> {
  const rows = await database.db
    .select({ id: clusters.id, sealed: clusters.sealedDataKey })
    .from(clusters)
    .where(isNotNull(clusters.sealedDataKey));
  let resealed = 0;
  for (const row of rows) {
    if (sealedWith(row.sealed!) === kek.currentId) continue;
    const next = await seal(kek, await open(kek, row.sealed!, dataKeyContext(row.id)), dataKeyContext(row.id));
    const replaced = await database.write((tx) =>
      tx
        .update(clusters)
        .set({ sealedDataKey: next })
        .where(and(eq(clusters.id, row.id), eq(clusters.sealedDataKey, row.sealed!)))
        .returning({ id: clusters.id }),
    );
    resealed += replaced.length;
  }
  return resealed;
}
