import { and, eq } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import type { AppDeps, AppEnv } from '../app-env.ts';
import { bearerToken } from '../auth/api-key.ts';
import { type ClusterKeyLookup, verifyNodeCredential } from '../auth/tokens.ts';
import { clusters, nodes } from '../db/schema/index.ts';
import { ApiError } from '../errors.ts';
import type { NodeRow } from '../orchestrator/cluster-state.ts';

export interface AgentEnv extends AppEnv {
  Variables: AppEnv['Variables'] & { node: NodeRow };
}

export function clusterKeys(deps: AppDeps): ClusterKeyLookup {
  return async (clusterId) => {
    const row = await deps.database.db.query.clusters.findFirst({ columns: { signingKey: true }, where: eq(clusters.id, clusterId) });
    return row?.signingKey;
  };
}

/**
 * Authenticates an agent by its node credential. The node must still exist with the credential's
 * generation: `docker node rm` ends every credential the node held.
 */
export function nodeAuth(): MiddlewareHandler<AgentEnv> {
  return async function nodeAuth(c, next) {
    const { deps } = c.var;
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new ApiError('unauthorized', 'missing node credential');
    const claims = await verifyNodeCredential(token, clusterKeys(deps), deps.config.issuer);
    const node = await deps.database.db.query.nodes.findFirst({
      where: and(eq(nodes.id, claims.nodeId), eq(nodes.clusterId, claims.clusterId)),
    });
    if (!node || node.credentialGeneration !== claims.generation) {
      throw new ApiError('unauthorized', 'node credential revoked: the node was removed from the swarm; join again with a token');
    }
    const cluster = await deps.database.db.query.clusters.findFirst({ where: eq(clusters.id, claims.clusterId) });
    c.set('cluster', cluster!);
    c.set('node', node);
    await next();
  };
}
