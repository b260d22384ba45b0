import { and, eq, isNull, sql } from 'drizzle-orm';
import { bumpIndex, type Tx } from '../db/database.ts';
import { wakeNodes } from '../db/wake.ts';
import { joinTokens, nodes } from '../db/schema/index.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../ids.ts';
import { meshChanged, onMesh } from '../swarm/mesh-changes.ts';
import { recordEvent } from '../events/record.ts';
import { nodeName, nodeStateChanged } from '../events/swarm-objects.ts';
import type { NodeDescription } from '../../protocol/agent-api.ts';

/** A WireGuard key is one host's: another node presenting it would receive that node's traffic. */
async function refuseTakenKey(tx: Tx, clusterId: string, key: string | undefined, self: string | undefined) {
  if (!key) return;
  const [holder] = await tx
    .select({ id: nodes.id, hostname: nodes.hostname })
    .from(nodes)
    .where(and(eq(nodes.clusterId, clusterId), sql`json_extract(${nodes.description}, '$.wireguardPublicKey') = ${key}`));
  if (holder && holder.id !== self) {
    throw new ApiError('conflict', `WireGuard public key is already node ${holder.hostname}'s (${holder.id}); each host needs its own key pair`);
  }
}

/**
 * Spends a join token and records the node, in one transaction: a revoked, rotated, expired or
 * already-used single-use token is refused, and of two joins racing on a single-use token only
 * the first commits. A rejoin that proved its identity with the node's credential keeps its ID,
 * and its Spec (the operator's labels and availability): the node only refreshes its description.
 */
export async function admitNode(
  tx: Tx,
  opts: { clusterId: string; jti: string; info: NodeDescription; rejoin?: { nodeId: string; generation: number }; now: number },
) {
  const { clusterId, jti, info, now } = opts;
  const token = await tx.query.joinTokens.findFirst({ where: and(eq(joinTokens.jti, jti), eq(joinTokens.clusterId, clusterId)) });
  if (!token || token.revokedAt !== null) throw new ApiError('unauthorized', 'join token has been rotated or revoked; ask for a new one with: docker swarm join-token worker');
  if (token.expiresAt <= now) throw new ApiError('unauthorized', 'join token has expired');
  if (token.singleUse) {
    const spent = await tx
      .update(joinTokens)
      .set({ usedAt: now })
      .where(and(eq(joinTokens.jti, jti), isNull(joinTokens.usedAt)))
      .returning({ jti: joinTokens.jti });
    if (!spent.length) throw new ApiError('unauthorized', 'join token was already used');
  }

  const description = {
    hostname: info.hostname,
    nanoCpus: info.nanoCpus,
    memoryBytes: info.memoryBytes,
    os: info.os,
    arch: info.arch,
    engineVersion: info.engineVersion,
    engineLabels: info.engineLabels ?? {},
    addr: info.addr,
    wireguardPublicKey: info.wireguardPublicKey,
  };
  const existing = opts.rejoin
    ? await tx.query.nodes.findFirst({ where: and(eq(nodes.id, opts.rejoin.nodeId), eq(nodes.clusterId, clusterId)) })
    : undefined;
  // Only the node's current credential proves it is that node: an older one was revoked when the
  // node joined again, and must not take it over (and revoke the real node's credential).
  if (existing && existing.credentialGeneration !== opts.rejoin!.generation) {
    throw new ApiError('credential_revoked', 'node credential revoked: the node has joined again since; join with a token as a new node');
  }
  await refuseTakenKey(tx, clusterId, info.wireguardPublicKey, existing?.id);
  const version = await bumpIndex(tx, clusterId);
  // Only the joining node's answer changes, unless it comes back with tasks others route to: a
  // join must not wake every waiting long-poll (a thousand joins would make a million reads).
  wakeNodes(tx, existing ? [existing.id] : []);
  // A node back with its tasks (maybe at a new address or with a new key) is its peers' news.
  if (existing && (await onMesh(tx, [existing.id]))) await meshChanged(tx, clusterId, version);
  if (existing) {
    const [row] = await tx
      .update(nodes)
      // A rejoin is issued a new credential; the ones before it stop working.
      .set({
        description,
        hostname: info.hostname,
        state: 'ready',
        stateMessage: '',
        credentialGeneration: sql`${nodes.credentialGeneration} + 1`,
        lastHeartbeatAt: now,
        version,
        updatedAt: now,
      })
      .where(eq(nodes.id, existing.id))
      .returning();
    await recordEvent(tx, clusterId, now, nodeStateChanged(row!, existing.state, 'ready'));
    return row!;
  }
  const [row] = await tx
    .insert(nodes)
    .values({
      id: newId(),
      clusterId,
      // The stored token's role, never the claim: the row is what the cluster issued.
      role: token.role,
      // Node labels are the operator's (`docker node update --label-add`): what the node says of
      // itself is in its engine labels, so it cannot place itself under a `node.labels` constraint.
      spec: { Labels: {}, Role: token.role, Availability: 'active' },
      availability: 'active',
      hostname: info.hostname,
      description,
      state: 'ready',
      lastHeartbeatAt: now,
      version,
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  await recordEvent(tx, clusterId, now, { type: 'node', action: 'create', actorId: row!.id, attributes: { name: nodeName(row!) } });
  return row!;
}
