import { Hono } from 'hono';
import { getPath } from 'hono/utils/url';
import type { AppEnv } from '../app-env.ts';
import { apiKeyAuth, requireSwarm } from '../auth/api-key.ts';
import { errorResponse } from '../errors.ts';
import { nodeRoutes } from './nodes.ts';
import { serviceRoutes } from './services.ts';
import { swarm } from './swarm.ts';
import { API_VERSION, DOCKER_HEADERS, system } from './system.ts';
import { infoRoutes } from './info.ts';
import { eventRoutes } from './events.ts';
import { networkRoutes } from './networks.ts';
import { taskRoutes } from './tasks.ts';
import { configRoutes, secretRoutes } from './payloads.ts';
import { serviceLogRoutes } from './logs.ts';
import { joinTokenRoutes } from './join-tokens.ts';

const VERSIONED = /^\/v(\d+)\.(\d+)(\/.*)$/;

/**
 * Docker clients call `/v1.41/services`; routes are written unversioned. Hono's own path scan, not
 * `new URL()`: every request is routed through here, and parsing whole URLs was a third of what a
 * poll of a request flood cost before any request started.
 */
export function dockerPath(request: Request): string {
  const path = getPath(request);
  return VERSIONED.exec(path)?.[3] ?? path;
}

/** dockerd refuses API versions above its own; so does this one, in the same words. */
function tooNew(request: Request): Response | undefined {
  const m = VERSIONED.exec(getPath(request));
  if (!m) return undefined;
  const [major, minor] = API_VERSION.split('.').map(Number) as [number, number];
  const asked = Number(m[1]) * 1000 + Number(m[2]);
  if (asked <= major * 1000 + minor) return undefined;
  return errorResponse(400, `client version ${m[1]}.${m[2]} is too new. Maximum supported API version is ${API_VERSION}`);
}

/** The Docker Engine API's swarm subset, every route behind an API key. */
export const dockerApi = new Hono<AppEnv>()
  // On every answer, refusals included, as dockerd does.
  .use('*', async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(DOCKER_HEADERS)) c.res.headers.set(name, value);
  })
  // The key first: without one the CLI's /_ping fails, it falls back to its own newest API
  // version, and a version error there would hide the real problem.
  .use('*', apiKeyAuth())
  // Before any other work: a tenant over its rate costs the others nothing more than this check.
  .use('*', async (c, next) => {
    const { fairShare } = c.var.deps;
    fairShare.admitApiRequest(c.var.cluster.id);
    await fairShare.inTenantTurn(c.var.cluster.id, next);
  })
  .use('*', async (c, next) => tooNew(c.req.raw) ?? next())
  .route('/', system)
  .route('/', infoRoutes)
  .route('/', swarm)
  .use('/swarmlet/*', requireSwarm())
  .route('/', joinTokenRoutes)
  .route('/', eventRoutes)
  .use('/nodes/*', requireSwarm())
  .use('/nodes', requireSwarm())
  .use('/services/*', requireSwarm())
  .use('/services', requireSwarm())
  .use('/tasks/*', requireSwarm())
  .use('/tasks', requireSwarm())
  .use('/networks/*', requireSwarm())
  .use('/networks', requireSwarm())
  .use('/secrets/*', requireSwarm())
  .use('/secrets', requireSwarm())
  .use('/configs/*', requireSwarm())
  .use('/configs', requireSwarm())
  .route('/', nodeRoutes)
  .route('/', serviceRoutes)
  .route('/', serviceLogRoutes)
  .route('/', taskRoutes)
  .route('/', networkRoutes)
  .route('/', secretRoutes)
  .route('/', configRoutes);
