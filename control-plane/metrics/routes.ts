import { type Context, Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { bearerToken } from '../auth/api-key.ts';
import { sameSecret } from '../auth/same-secret.ts';
import { ApiError } from '../errors.ts';
import { clusterForApiKey } from '../swarm/clusters.ts';
import { EXPOSITION_CONTENT_TYPE, type Labels } from '../../protocol/metrics.ts';
import { clusterGauges, type MetricsReader } from './cluster-gauges.ts';

/** METRICS_TOKEN reads everything; an API key reads its own cluster's series; anything else is refused. */
async function metricsReader(c: Context<AppEnv>): Promise<MetricsReader> {
  const token = bearerToken(c.req.header('authorization'));
  if (!token) throw new ApiError('unauthorized', 'missing credentials: send "Authorization: Bearer <key>" with an API key (your cluster\'s series) or METRICS_TOKEN (all)');
  const { deps } = c.var;
  if (deps.config.metricsToken && (await sameSecret(token, deps.config.metricsToken))) return { kind: 'operator' };
  const cluster = await clusterForApiKey(deps.database.db, token);
  if (!cluster) throw new ApiError('unauthorized', 'invalid credentials: neither a live API key nor the METRICS_TOKEN');
  return { kind: 'tenant', clusterId: cluster.id };
}

/**
 * What a reader may see: the operator everything; a tenant only series labelled with its cluster,
 * so neither another tenant's cluster IDs nor the instance-wide series reach it.
 */
export const visibleTo = (reader: MetricsReader) => (reader.kind === 'operator' ? () => true : (labels: Labels) => labels.cluster === reader.clusterId);

/** GET /metrics in Prometheus' text format. */
export const metricsRoutes = new Hono<AppEnv>().get('/metrics', async (c) => {
  const reader = await metricsReader(c);
  const { deps } = c.var;
  const body = deps.metrics.registry.render(visibleTo(reader), await clusterGauges(deps, reader));
  return new Response(body, { headers: { 'Content-Type': EXPOSITION_CONTENT_TYPE, 'Cache-Control': 'no-store' } });
});
