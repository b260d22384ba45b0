import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/database.ts';
import { clusters, type StoredSigningKey } from '../db/schema/index.ts';
import { ApiError } from '../errors.ts';
import { type KeyRing, open, seal, sealedWith } from './envelope.ts';
import type { SigningKey } from './tokens.ts';

/**
 * A cluster's Ed25519 private key is kept only sealed (see envelope.ts): whoever reads the database
 * file gets the public key and an envelope bound to the cluster's ID, nothing that signs.
 */
const context = (clusterId: string) => `signing-key:${clusterId}`;
const utf8 = new TextEncoder();

export async function sealSigningKey(ring: KeyRing, clusterId: string, key: SigningKey): Promise<StoredSigningKey> {
  return { publicJwk: key.publicJwk, sealedPrivateJwk: await seal(ring, utf8.encode(JSON.stringify(key.privateJwk)), context(clusterId)) };
}

type ClusterKeyRow = { id: string; signingKey: StoredSigningKey };

async function unseal(ring: KeyRing, cluster: ClusterKeyRow): Promise<SigningKey> {
  const opened = await open(ring, cluster.signingKey.sealedPrivateJwk!, context(cluster.id));
  return { privateJwk: JSON.parse(new TextDecoder().decode(opened)), publicJwk: cluster.signingKey.publicJwk };
}

/** The key pair that signs a cluster's tokens. A key still in plain text is refused: start seals them. */
export async function openSigningKey(ring: KeyRing, cluster: ClusterKeyRow): Promise<SigningKey> {
  if (!cluster.signingKey.sealedPrivateJwk) {
    throw new ApiError('internal', `signing key of cluster ${cluster.id} is not sealed; restart the control plane, which seals it`);
  }
  return unseal(ring, cluster);
}

/**
 * Run at start: seals every signing key still stored in plain text (written before keys were
 * sealed) and seals again, with the current KEK, every key sealed with an older one. Each row is
 * replaced only if no other instance changed it meanwhile, so instances starting together agree.
 */
export async function sealSigningKeysAtRest(database: Database, ring: KeyRing): Promise<{ sealed: number; resealed: number; scrubbed: boolean }> {
  const rows = await database.db.select({ id: clusters.id, signingKey: clusters.signingKey }).from(clusters);
  const counts = { sealed: 0, resealed: 0, scrubbed: false };
  for (const row of rows) {
    const stored = row.signingKey;
    const plaintext = !stored.sealedPrivateJwk;
    if (!plaintext && sealedWith(stored.sealedPrivateJwk!) === ring.currentId) continue;
    const key = plaintext ? { privateJwk: stored.privateJwk!, publicJwk: stored.publicJwk } : await unseal(ring, row);
    const next = await sealSigningKey(ring, row.id, key);
    const replaced = await database.write((tx) =>
      tx
        .update(clusters)
        .set({ signingKey: next })
        .where(and(eq(clusters.id, row.id), sql`${clusters.signingKey} = ${JSON.stringify(stored)}`))
        .returning({ id: clusters.id }),
    );
    if (replaced.length) counts[plaintext ? 'sealed' : 'resealed']++;
  }
  if (counts.sealed) counts.scrubbed = await scrubOldPages(database);
  return counts;
}

/**
 * The plain-text key an update replaced lingers in the WAL and in freed page space until the file
 * is rewritten: VACUUM rewrites it, and the checkpoint empties the WAL. A libSQL server that
 * refuses either keeps its old pages; the keys are sealed all the same.
 */
async function scrubOldPages(database: Database): Promise<boolean> {
  try {
    await database.client.execute('VACUUM');
    await database.client.execute('PRAGMA wal_checkpoint(TRUNCATE)');
    return true;
  } catch {
    // Not a file, or another instance holds the lock: the caller says to run VACUUM by hand.
    return false;
  }
}
