import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from './app-env.ts';
import type { AppDeps } from './deps.ts';
import { agentApi } from './agent-api/index.ts';
import { AGENT_PREFIX } from '../protocol/agent-api.ts';
import { adminApi } from './admin-api.ts';
import { dockerApi, dockerPath } from './docker-api/index.ts';
import { errorHandler, errorResponse } from './errors.ts';
import { healthRoutes } from './metrics/health.ts';
import { requestMetrics } from './metrics/request-metrics.ts';
import { metricsRoutes } from './metrics/routes.ts';
import { uiRoutes } from './ui/index.ts';

/**
 * The whole control plane as one runtime-neutral Hono app, built from explicit dependencies:
 * the Node server and the Worker entry serve this same app.
 */
export function createApp(deps: AppDeps) {
  const app = new Hono<AppEnv>({ getPath: dockerPath });
  app.onError(errorHandler(deps.log));
  app.notFound(() => errorResponse(404, 'page not found'));
  // Middleware that returns next()'s promise rather than awaiting it: an awaiting one keeps a
  // suspended frame for as long as the request runs, and a long-poll runs for a minute, so
  // thousands of waiting agents each held one per layer (heap snapshots: issue 13).
  app.use('*', (c, next) => {
    c.set('deps', deps);
    return next();
  });
  app.use('*', requestMetrics());
  // Round the credentials: one flooding credential cannot make others wait for its crowd.
  app.use('*', (c, next) => deps.fairShare.requestTurn(c.req.header('authorization') ?? '')?.then(next) ?? next());
  const limitBody = bodyLimit({
    maxSize: deps.config.bodyLimitBytes,
    onError: () => errorResponse(413, `request body too large: the limit is ${deps.config.bodyLimitBytes} bytes`),
  });
  // Not for GET and HEAD, which carry no body: looking for one makes the Node adapter build a whole
  // Request per request, a third of what a refused long-poll cost.
  app.use('*', (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)));
  // Unauthenticated probes and the metrics' own credentials: before the Docker API's key check.
  app.route('/', healthRoutes);
  app.route('/', metricsRoutes);
  app.route(AGENT_PREFIX, agentApi);
  // Our own prefixes end here; only the Docker API's routes lie beyond.
  app.all('/agent/*', () => errorResponse(404, 'page not found'));
  app.route('/admin/v1', adminApi);
  app.all('/admin/*', () => errorResponse(404, 'page not found'));
  // The dashboard reads through the Docker API's own routes, in process, under the session's key.
  app.route('/ui', uiRoutes((request) => Promise.resolve(app.fetch(request, {}))));
  app.route('/', dockerApi);
  return app;
}

export type App = ReturnType<typeof createApp>;
