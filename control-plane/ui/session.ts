import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../app-env.ts';
import { clusterForApiKey } from '../swarm/clusters.ts';

/**
 * The dashboard's session is the API key itself, in a cookie the page's scripts cannot read
 * (HttpOnly), sent only over HTTPS (Secure; `__Host-` pins it to this origin and path /) and never
 * on a request another site starts (SameSite=Strict). Revoking the key ends every session with it.
 */
const COOKIE = '__Host-swarmlet-key';
const SESSION_SECONDS = 12 * 60 * 60;

export interface UiEnv {
  Variables: AppEnv['Variables'] & { apiKey: string };
}

export function startSession(c: Context, apiKey: string): void {
  setCookie(c, COOKIE, apiKey, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/', maxAge: SESSION_SECONDS });
}

export function endSession(c: Context): void {
  deleteCookie(c, COOKIE, { path: '/', secure: true });
}

/**
 * A form post counts only from this origin: SameSite keeps the cookie off cross-site requests, and
 * this keeps another site from signing a browser in under a key of its choosing. Browsers say where
 * a request comes from in Sec-Fetch-Site, older ones in Origin, compared by host (behind a
 * TLS-terminating proxy the request URL's scheme is not the browser's).
 */
export function fromThisOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  return URL.canParse(origin) && new URL(origin).host === (c.req.header('host') ?? new URL(c.req.url).host);
}

/** Pages need a session: without a valid one the browser goes to the sign-in form. */
export function requireSession(onMissing: (c: Context<UiEnv>) => Response): MiddlewareHandler<UiEnv> {
  return async function requireSession(c, next) {
    const apiKey = getCookie(c, COOKIE);
    const cluster = apiKey ? await clusterForApiKey(c.var.deps.database.db, apiKey) : undefined;
    if (!apiKey || !cluster) return onMissing(c);
    c.set('apiKey', apiKey);
    c.set('cluster', cluster);
    await next();
  };
}
