import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from '../app-env.ts';
import { secondsSince } from '../../protocol/metrics.ts';

/**
 * Counts and times every answer by the route pattern that produced it (`/services/:id`, never the
 * raw path: IDs and names would make a series per object), labelled with the cluster the request's
 * key or credential named, if any.
 */
export function requestMetrics(): MiddlewareHandler<AppEnv> {
  // Not async: see app.ts, a long-poll would hold this frame for its whole wait.
  return function requestMetrics(c, next) {
    const started = performance.now();
    return next().then(() => recordAnswer(c, started));
  };
}

function recordAnswer(c: Context<AppEnv>, started: number): void {
  const { metrics } = c.var.deps;
  const cluster = c.var.cluster?.id;
  const labels = { route: routePath(c) || 'unmatched', method: c.req.method, ...(cluster ? { cluster } : {}) };
  metrics.requests.inc({ ...labels, status: String(c.res.status) });
  metrics.requestSeconds.observe(labels, secondsSince(started));
  if (c.res.status === 429) metrics.rateLimited.inc(labels);
}
