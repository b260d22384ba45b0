import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, joinTarget, writeCluster } from '../app-env.ts';
import { openSigningKey } from '../auth/signing-keys.ts';
import { signJoinToken } from '../auth/tokens.ts';
import { joinTokens } from '../db/schema/index.ts';
import { invalid, notFound } from '../errors.ts';
import { issueJoinToken } from '../swarm/clusters.ts';
import { assertJoinTokenRoom } from '../fair-share/index.ts';
import { jsonOk, readJsonObject } from './body.ts';

/**
 * Our extension beside the Docker API: extra join tokens, e.g. single-use ones for automated VM
 * provisioning, and their revocation. Authenticated by the cluster's API key like the rest.
 */
export const joinTokenRoutes = new Hono<AppEnv>()
  .post('/swarmlet/v1/join-tokens', async (c) => {
    const { cluster, deps } = c.var;
    const body = await readJsonObject(c);
    const role = body.role ?? 'worker';
    if (role !== 'worker' && role !== 'manager') throw invalid('role must be worker or manager');
    const ttlSeconds = body.ttlSeconds ?? 3600;
    const maxSeconds = Math.floor(deps.config.tokenMaxTtl.joinMs / 1000);
    if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > maxSeconds) {
      throw invalid(`ttlSeconds must be an integer between 1 and ${maxSeconds}`);
    }
    const singleUse = body.singleUse !== false;
    const now = deps.now();
    const expiresAt = now + ttlSeconds * 1000;
    const jti = await writeCluster(deps, cluster.id, async (tx) => {
      await assertJoinTokenRoom(tx, cluster.id, now, deps.config.fairShare.liveJoinTokensPerCluster);
      return issueJoinToken(tx, cluster.id, role, now, ttlSeconds * 1000, false, singleUse);
    });
    const token = await signJoinToken(await openSigningKey(deps.keyRing, cluster), deps.config.issuer, {
      clusterId: cluster.id,
      role,
      jti,
      issuedAt: now,
      expiresAt,
      ...joinTarget(deps, cluster),
    });
    return jsonOk({ id: jti, token, role, singleUse, expiresAt: new Date(expiresAt).toISOString() }, 201);
  })
  .delete('/swarmlet/v1/join-tokens/:id', async (c) => {
    const { cluster, deps } = c.var;
    await writeCluster(deps, cluster.id, async (tx) => {
      const row = await tx.query.joinTokens.findFirst({ where: eq(joinTokens.jti, c.req.param('id')) });
      if (!row || row.clusterId !== cluster.id) throw notFound(`join token ${c.req.param('id')} not found`);
      await tx.update(joinTokens).set({ revokedAt: deps.now(), current: false }).where(eq(joinTokens.jti, row.jti));
    });
    return new Response(null, { status: 204 });
  });
