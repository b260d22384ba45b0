import { Hono } from 'hono';
import { sql } from 'drizzle-orm';
import type { AppEnv } from '../app-env.ts';
import journal from '../../migrations/meta/_journal.json' with { type: 'json' };

/** The newest migration this build carries; drizzle records each applied one with its `when`. */
const NEWEST_MIGRATION = Math.max(...journal.entries.map((e) => e.when));

const plain = (status: number, body: string) => new Response(`${body}\n`, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' } });

/**
 * Liveness and readiness for load balancers and orchestrators: unauthenticated, so they answer a
 * word and a status and nothing else (no versions, no instance names, no error text).
 */
export const healthRoutes = new Hono<AppEnv>()
  .get('/healthz', () => plain(200, 'ok'))
  .get('/readyz', async (c) => {
    try {
      const rows = await c.var.deps.database.db.all<{ newest: number | null }>(sql`select max(created_at) as newest from __drizzle_migrations`);
      const newest = Number(rows[0]?.newest ?? 0);
      return newest >= NEWEST_MIGRATION ? plain(200, 'ready') : plain(503, 'not ready');
    } catch (err) {
      c.var.deps.log.warn('readiness check failed', { error: err });
      return plain(503, 'not ready');
    }
  });
