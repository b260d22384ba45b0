/**
 * The dashboard under /ui: server-rendered pages of one cluster (the signed-in key's), kept live by
 * long-polling the cluster's change index, as agents do. Rendered with hono/html: escaped by
 * default, runtime-neutral, and needing no JSX compile settings in tsx, vitest or wrangler.
 */
import { Hono, type Context } from 'hono';
import { readClusterIndex } from '../db/database.ts';
import { ApiError, errorHandler, invalid } from '../errors.ts';
import { APP_CSS, APP_JS } from './assets.ts';
import { type AppFetch, DockerReads } from './docker-reads.ts';
import { framesToText } from './log-text.ts';
import { errorPage, eventsPage, overview, servicePage, signInPage, type View, viewPage } from './pages.ts';
import { endSession, fromThisOrigin, requireSession, startSession, type UiEnv } from './session.ts';
import { clusterForApiKey } from '../swarm/clusters.ts';

/** Scripts, styles and connections from this origin only; no inline script, no framing. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** A live request answers at the latest after this long, so proxies and browsers never cut it first. */
const LIVE_WAIT_MS = 25_000;

type ViewOf = (reads: DockerReads, now: number, c: Context<UiEnv>) => Promise<View>;

const reads = (fetchApp: AppFetch, c: Context<UiEnv>) => new DockerReads(fetchApp, c.var.apiKey, c.req.raw.signal);

const htmlPage = (c: Context, body: Promise<unknown> | unknown, status: 200 | 401 = 200) =>
  Promise.resolve(body).then((b) => c.html(String(b), status));

/** The cluster's index once it moved past `since`, or `since` when the wait ran out. */
async function indexAfter(c: Context<UiEnv>, since: number): Promise<number> {
  const { deps, cluster } = c.var;
  const current = await readClusterIndex(deps.database.db, cluster.id);
  if (current > since) return current;
  await deps.notifier.waitForChange(cluster.id, since, Math.min(LIVE_WAIT_MS, deps.config.longPollMaxWaitMs), c.req.raw.signal);
  return readClusterIndex(deps.database.db, cluster.id);
}

async function renderFragments(view: View): Promise<Record<string, string>> {
  const entries = await Promise.all(Object.entries(view.fragments).map(async ([id, f]) => [id, String(await f)] as const));
  return Object.fromEntries(entries);
}

export function uiRoutes(fetchApp: AppFetch) {
  /** A page and its live endpoint, from one view. */
  const routesOf = (app: Hono<UiEnv>, pagePath: string, livePath: string, view: ViewOf) =>
    app
      .get(pagePath, async (c) => {
        const index = await readClusterIndex(c.var.deps.database.db, c.var.cluster.id);
        return htmlPage(c, viewPage(await view(reads(fetchApp, c), c.var.deps.now(), c), c.var.cluster.name, index));
      })
      .get(livePath, async (c) => {
        const since = Number(c.req.query('index') ?? '0');
        if (!Number.isInteger(since) || since < 0) throw invalid(`invalid index '${c.req.query('index')}': expected the non-negative integer the page carries`);
        const index = await indexAfter(c, since);
        const fragments = index > since ? await renderFragments(await view(reads(fetchApp, c), c.var.deps.now(), c)) : {};
        return c.json({ index, fragments });
      });

  const app = new Hono<UiEnv>()
    .use('*', async (c, next) => {
      await next();
      c.res.headers.set('Content-Security-Policy', CSP);
      c.res.headers.set('X-Content-Type-Options', 'nosniff');
      c.res.headers.set('Referrer-Policy', 'no-referrer');
      if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
    })
    .get('/assets/app.js', (c) => c.body(APP_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'max-age=300' }))
    .get('/assets/app.css', (c) => c.body(APP_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'max-age=300' }))
    .get('/sign-in', (c) => htmlPage(c, signInPage()))
    .post('/sign-in', async (c) => {
      if (!fromThisOrigin(c)) throw invalid('the sign-in form was posted from another site');
      const form = await c.req.parseBody();
      const apiKey = typeof form.apiKey === 'string' ? form.apiKey.trim() : '';
      const cluster = apiKey ? await clusterForApiKey(c.var.deps.database.db, apiKey) : undefined;
      if (!cluster) return htmlPage(c, signInPage(apiKey ? 'That API key is unknown or revoked.' : 'Enter an API key.'), 401);
      startSession(c, apiKey);
      return c.redirect('/ui', 303);
    })
    .post('/sign-out', (c) => {
      if (!fromThisOrigin(c)) throw invalid('the sign-out form was posted from another site');
      endSession(c);
      return c.redirect('/ui/sign-in', 303);
    })
    .use(
      '*',
      requireSession((c) => {
        if (c.req.path.startsWith('/ui/live/') || c.req.path.endsWith('/logs')) throw new ApiError('unauthorized', 'sign in at /ui/sign-in first');
        return c.redirect('/ui/sign-in', 303);
      }),
    )
    .get('/services/:ref/logs', async (c) => {
      const res = await reads(fetchApp, c).followLogs(c.req.param('ref'));
      if (!res.body) throw new ApiError('unavailable', 'the log relay sent no stream');
      // identity: the Workers runtime would otherwise hold lines back in a compressor.
      return new Response(res.body.pipeThrough(framesToText()), {
        headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Encoding': 'identity', 'Cache-Control': 'no-store, no-transform' },
      });
    });
  // Pages answer a person in HTML; the script's endpoints keep the app's JSON errors.
  app.onError((err, c) => {
    const script = c.req.path.startsWith('/ui/live/') || c.req.path.endsWith('/logs') || !(err instanceof ApiError);
    if (script) return errorHandler(c.var.deps.log)(err, c);
    return c.html(String(errorPage(err.message, c.var.cluster?.name)), err.status as 400);
  });
  routesOf(app, '/', '/live/overview', (r, now) => overview(r, now));
  routesOf(app, '/events', '/live/events', (r, now) => eventsPage(r, now));
  routesOf(app, '/services/:ref', '/live/services/:ref', (r, now, c) => servicePage(r, c.req.param('ref') ?? '', now));
  return app;
}
