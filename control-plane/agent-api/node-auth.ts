import { and, eq, sql } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { AppEnv } from '../app-env.ts';
import type { AppDeps } from '../deps.ts';
import type { Database } from '../db/database.ts';
import { bearerToken } from '../auth/api-key.ts';
import { type ClusterKeyLookup, nodeCredentialPolicy, verifyNodeCredential } from '../auth/tokens.ts';
import { clusters, nodes } from '../db/schema/index.ts';
import { ApiError } from '../errors.ts';
import type { NodeRow } from '../orchestrator/cluster-state.ts';

export interface AgentEnv extends AppEnv {
  Variables: AppEnv['Variables'] & { node: NodeRow };
}

export function clusterKeys(deps: AppDeps): ClusterKeyLookup {
  return async (clusterId) => {
    const row = await deps.database.db.query.clusters.findFirst({ columns: { signingKey: true }, where: eq(clusters.id, clusterId) });
    return row && { publicJwk: row.signingKey.publicJwk };
  };
}

type NodeClaims = Awaited<ReturnType<typeof verifyNodeCredential>>;

/**
 * Credentials already verified, until they expire: every agent presents the same credential on
 * each heartbeat and long-poll, and an Ed25519 verification plus a key lookup per request is most
 * of what such a request costs. Only the signature check is remembered; whether the node still
 * exists at that generation is read on every request.
 */
export class VerifiedCredentials {
  private readonly verified = new Map<string, { claims: NodeClaims; expiresAt: number }>();
  /** Verifications under way: a burst of requests with one new credential verifies it once. */
  private readonly verifying = new Map<string, Promise<NodeClaims>>();
  private static readonly MAX = 20_000;

  async claims(deps: AppDeps, token: string): Promise<NodeClaims> {
    const hit = this.verified.get(token);
    if (hit && hit.expiresAt > deps.now()) return hit.claims;
    let verifying = this.verifying.get(token);
    if (!verifying) {
      verifying = this.verify(deps, token).finally(() => this.verifying.delete(token));
      this.verifying.set(token, verifying);
    }
    return verifying;
  }

  private async verify(deps: AppDeps, token: string): Promise<NodeClaims> {
    const claims = await verifyNodeCredential(token, clusterKeys(deps), nodeCredentialPolicy(deps.config));
    const exp = decodeJwt(token).exp;
    if (typeof exp === 'number') {
      if (this.verified.size >= VerifiedCredentials.MAX) this.verified.clear();
      this.verified.set(token, { claims, expiresAt: exp * 1000 });
    }
    return claims;
  }
}

/**
 * Whether a credential names (by its `kid`, unverified) a cluster that does not exist. A deleted
 * cluster's credentials are refused as revoked, so its agents stop rather than retry: only
 * `credential_revoked` tells an agent not to.
 */
async function namesMissingCluster(deps: AppDeps, token: string): Promise<boolean> {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return false;
  }
  return typeof kid === 'string' && (await clusterKeys(deps)(kid)) === undefined;
}

/**
 * The node and its cluster, by the credential's claims: built once per database, since every
 * heartbeat and long-poll asks it and building the query cost as much as running it.
 */
const nodeQueries = new WeakMap<Database, ReturnType<typeof prepareNodeWithCluster>>();
const prepareNodeWithCluster = (database: Database) =>
  database.db
    .select({ node: nodes, cluster: clusters })
    .from(nodes)
    .innerJoin(clusters, eq(clusters.id, nodes.clusterId))
    .where(and(eq(nodes.id, sql.placeholder('node')), eq(nodes.clusterId, sql.placeholder('cluster'))))
    .prepare();
function nodeWithCluster(database: Database) {
  let query = nodeQueries.get(database);
  if (!query) nodeQueries.set(database, (query = prepareNodeWithCluster(database)));
  return query;
}

const clusterGone = () => new ApiError('credential_revoked', 'node credential revoked: its cluster no longer exists');

/**
 * Authenticates an agent by its node credential. The node must still exist with the credential's
 * generation: `docker node rm` ends every credential the node held. The request is the node's
 * heartbeat (StatusBatcher.heard).
 */
export function nodeAuth(): MiddlewareHandler<AgentEnv> {
  return async function nodeAuth(c, next) {
    const { deps } = c.var;
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new ApiError('unauthorized', 'missing node credential');
    const claims = await deps.verifiedCredentials.claims(deps, token).catch(async (err: unknown) => {
      if (err instanceof ApiError && err.code === 'unauthorized' && (await namesMissingCluster(deps, token))) throw clusterGone();
      throw err;
    });
    // Before the database is asked anything: a flood from one credential stops here.
    deps.fairShare.admitNodeRequest(claims.nodeId);
    const [row] = await nodeWithCluster(deps.database).all({ node: claims.nodeId, cluster: claims.clusterId });
    if (!row || row.node.credentialGeneration !== claims.generation) {
      throw new ApiError('credential_revoked', 'node credential revoked: the node was removed from the swarm or joined again since; join again with a token');
    }
    await deps.statusBatcher.heard(row.cluster.id, row.node.id, row.node.lastHeartbeatAt);
    c.set('cluster', row.cluster);
    c.set('node', row.node);
    await next();
  };
}
