import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { invalid } from '../errors.ts';
import { type EventMessage, eventStream } from '../events/stream.ts';
import { type Filters, matchesLabels, parseFilters } from './filters.ts';
import { dockerTime } from './query.ts';

/** dockerd's event filters; those naming kinds of object that are not swarm objects match none of ours. */
const EVENT_FILTERS = ['type', 'event', 'scope', 'label', 'service', 'node', 'network', 'secret', 'config', 'container', 'image', 'volume', 'plugin', 'daemon'] as const;
const OBJECT_FILTERS = ['service', 'node', 'network', 'secret', 'config', 'container', 'image', 'volume', 'plugin', 'daemon'] as const;

/**
 * dockerd's Filter.Include for our events: every given key must match; a key naming a kind of
 * object matches that kind's events by ID or name, exactly or as a prefix (FuzzyMatch).
 */
function eventFilter(filters: Filters): (e: EventMessage) => boolean {
  const fuzzy = (wanted: string[], value: string | undefined) => value !== undefined && wanted.some((w) => value === w || value.startsWith(w));
  return (e) => {
    const exact = (key: string, value: string) => !filters.has(key) || filters.get(key)!.includes(value);
    if (!exact('type', e.Type) || !exact('event', e.Action) || !exact('scope', e.scope)) return false;
    for (const kind of OBJECT_FILTERS) {
      const wanted = filters.get(kind);
      if (wanted && !(e.Type === kind && (fuzzy(wanted, e.Actor.ID) || fuzzy(wanted, e.Actor.Attributes.name)))) return false;
    }
    return matchesLabels(filters.get('label'), e.Actor.Attributes);
  };
}

/**
 * A stream must reach the client line by line. The Workers runtime gzips an application/json body
 * for a client that accepts gzip (the CLI does), holding the events back in the compressor; an
 * explicit identity encoding (and no-transform, for Cloudflare's edge) keeps them flowing.
 */
const STREAM_HEADERS = { 'Content-Type': 'application/json', 'Content-Encoding': 'identity', 'Cache-Control': 'no-transform' };

/** `GET /events`: the cluster's swarm events, past (`since`) and live, until `until` or the client leaves. */
export const eventRoutes = new Hono<AppEnv>().get('/events', (c) => {
  const { cluster, deps } = c.var;
  const now = deps.now();
  const since = dockerTime('since', c.req.query('since'), now);
  const until = dockerTime('until', c.req.query('until'), now);
  if (since !== undefined && until !== undefined && until < since) throw invalid(`invalid until: it is before since`);
  const include = eventFilter(parseFilters(c.req.query('filters'), EVENT_FILTERS));
  const body = eventStream(deps, cluster.id, { since, until, include }, c.req.raw.signal);
  return new Response(body, { status: 200, headers: STREAM_HEADERS });
});
