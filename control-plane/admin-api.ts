import { Hono } from 'hono';
import type { AppEnv } from './app-env.ts';
import { bearerToken } from './auth/api-key.ts';
import { readJsonObject, jsonOk } from './docker-api/body.ts';
import { ApiError, invalid } from './errors.ts';
import { sameSecret } from './auth/same-secret.ts';
import { issueApiKey, listApiKeys, revokeApiKey, rotateApiKey } from './swarm/api-keys.ts';
import { createCluster, deleteCluster } from './swarm/clusters.ts';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Tenant administration for SaaS-style deployments: clusters, and the API keys that reach them. */
export const adminApi = new Hono<AppEnv>()
  .use('*', async (c, next) => {
    const expected = c.var.deps.config.adminToken;
    if (!expected) throw new ApiError('unauthorized', 'the admin API is disabled: start the control plane with ADMIN_TOKEN set');
    const token = bearerToken(c.req.header('authorization'));
    if (!token || !(await sameSecret(token, expected))) throw new ApiError('unauthorized', 'invalid admin token');
    await next();
  })
  .post('/clusters', async (c) => {
    const body = await readJsonObject(c);
    const { tenant, name } = body;
    if (typeof tenant !== 'string' || !NAME.test(tenant)) throw invalid('tenant must be a lowercase name (a-z, 0-9, -)');
    if (typeof name !== 'string' || !NAME.test(name)) throw invalid('name must be a lowercase name (a-z, 0-9, -)');
    const { deps } = c.var;
    const { cluster, apiKey } = await createCluster(deps.database, {
      tenant,
      name,
      initialize: body.initialize !== false,
      now: deps.now(),
      keyRing: deps.keyRing,
      tokenTtlMs: deps.config.joinTokenTtlMs,
    });
    return jsonOk({ clusterId: cluster.id, tenantId: cluster.tenantId, apiKey }, 201);
  })
  .delete('/clusters/:clusterId', async (c) => {
    await deleteCluster(c.var.deps.database, c.req.param('clusterId'));
    return new Response(null, { status: 204 });
  })
  .get('/clusters/:clusterId/api-keys', async (c) => jsonOk(await listApiKeys(c.var.deps.database, c.req.param('clusterId'))))
  .post('/clusters/:clusterId/api-keys', async (c) => {
    // The body is optional: `curl -X POST` alone makes a key named "default".
    const body = (await c.req.text()).trim() === '' ? {} : await readJsonObject(c);
    const name = body.name ?? 'default';
    if (typeof name !== 'string' || !NAME.test(name)) throw invalid('name must be a lowercase name (a-z, 0-9, -)');
    const { deps } = c.var;
    return jsonOk(await issueApiKey(deps.database, c.req.param('clusterId'), name, deps.now()), 201);
  })
  .delete('/clusters/:clusterId/api-keys/:keyId', async (c) => {
    const { deps } = c.var;
    await revokeApiKey(deps.database, c.req.param('clusterId'), c.req.param('keyId'), deps.now());
    return new Response(null, { status: 204 });
  })
  .post('/clusters/:clusterId/api-keys/:keyId/rotate', async (c) => {
    const { deps } = c.var;
    return jsonOk(await rotateApiKey(deps.database, c.req.param('clusterId'), c.req.param('keyId'), deps.now()), 201);
  });
