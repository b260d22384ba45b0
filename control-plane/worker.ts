import { createClient } from '@libsql/client/web';
import { drizzle } from 'drizzle-orm/libsql/web';
import { createApp } from './app.ts';
import { keyRingFrom } from './auth/envelope.ts';
import { sealSigningKeysAtRest } from './auth/signing-keys.ts';
import { resealDataKeysAtRest } from './auth/data-keys.ts';
import { loadConfig } from './config.ts';
import { Database, DRIZZLE_OPTIONS } from './db/database.ts';
import { errorResponse } from './errors.ts';
import { type AppDeps, buildDeps } from './deps.ts';
import { clusterIndexes } from './orchestrator/cluster-state.ts';
import { acquireLease } from './orchestrator/lease.ts';
import { orchestrateAsLeader } from './orchestrator/leader.ts';

/**
 * The same app on Cloudflare Workers. State lives in a libSQL server (LIBSQL_URL, e.g. Turso);
 * apply migrations to it first with `LIBSQL_URL=... npm run db:migrate`. The reconciler runs from
 * the cron trigger and after each write (waitUntil), under the same lease as Node instances.
 */
interface Env {
  LIBSQL_URL: string;
  LIBSQL_AUTH_TOKEN?: string;
  PUBLIC_URL?: string;
  TOKEN_ISSUER?: string;
  ADMIN_TOKEN?: string;
  /** Reads every cluster's series at /metrics (this isolate's counters): `wrangler secret put METRICS_TOKEN`. */
  METRICS_TOKEN?: string;
  /** Key-encryption key(s) sealing the signing keys, base64, current first: `wrangler secret put KEK`. */
  KEK?: string;
}

interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

type Built = { deps: AppDeps; app: ReturnType<typeof createApp>; changed: Set<string> };
let cached: Promise<Built> | undefined;

/** Built once per isolate; a failed build (no KEK, database unreachable) is tried again by the next request. */
function build(env: Env): Promise<Built> {
  cached ??= buildOnce(env).catch((err) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function buildOnce(env: Env): Promise<Built> {
  // No status coalescing on Workers: see StatusBatcher. Long-polls look for other isolates' writes twice a second.
  // Queues off (request turns, turns per tenant, gated assignment reads): on Workers a request must not wait on
  // a promise another request resolves. The rates and stored limits still hold.
  const config = loadConfig({
    NOTIFIER_POLL_MS: '500',
    ...env,
    INSTANCE_ID: `worker-${crypto.randomUUID().slice(0, 8)}`,
    STATUS_BATCH_MS: '0',
    REQUEST_TURNS: '0',
    API_CONCURRENT_PER_CLUSTER: '0',
    ASSIGNMENT_READS_PER_CLUSTER: '0',
  });
  // A Worker has no file of its own to keep a key in: without the secret it does not serve at all.
  if (!config.kek.keys.length) {
    throw new Error('KEK is not set: create one with `openssl rand -base64 32 | wrangler secret put KEK` (the key-encryption key that seals signing keys)');
  }
  const keyRing = await keyRingFrom(config.kek.keys);
  const client = createClient({ url: env.LIBSQL_URL, authToken: env.LIBSQL_AUTH_TOKEN });
  const database = new Database(client, drizzle(client, DRIZZLE_OPTIONS), false);
  // Keys written in plain text (or with an older KEK) are sealed with the current one before use.
  await sealSigningKeysAtRest(database, keyRing);
  await resealDataKeysAtRest(database, keyRing);
  // Each long-poll polls from its own request, and is answered alone: on Workers a timer dies with
  // the request that set it, and a request must not wait on another's promise.
  const deps = buildDeps(config, database, keyRing, { notifier: { pollFromEachWaiter: true }, batchAnswers: false });
  const { notifier } = deps;
  // Clusters written since the last sweep: a request's write is followed by a pass over its cluster.
  const changed = new Set<string>();
  notifier.subscribe((clusterId) => changed.add(clusterId));
  return { deps, app: createApp(deps), changed };
}

/** Every request answers the reason the Worker cannot start, in Docker's error shape, and it is logged. */
async function buildOrRefuse(env: Env): Promise<Built | Response> {
  try {
    return await build(env);
  } catch (err) {
    console.error(`control plane cannot start: ${(err as Error).message}`);
    return errorResponse(503, `control plane cannot start: ${(err as Error).message}`);
  }
}

/** A reconcile-and-schedule pass over the given clusters (all, for the cron), if this isolate gets the lease. */
async function leaderSweep(deps: AppDeps, only?: string[]): Promise<void> {
  try {
    const lease = await acquireLease(deps.database, deps.config.instanceId, deps.config.lease.ttlMs);
    if (!lease) return;
    for (const clusterId of only ?? (await clusterIndexes(deps.database.db)).keys()) {
      // The cron's pass over every cluster also drops expired tokens and log rows.
      const result = await orchestrateAsLeader(deps, lease, clusterId, Date.now(), only === undefined);
      if (result.index !== undefined) deps.notifier.publish(clusterId, result.index, result.wake);
    }
  } catch (err) {
    // A lost lease or a failed pass is retried by the next write or the cron.
    deps.log.error('leader sweep failed', { error: err });
  }
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const built = await buildOrRefuse(env);
    if (built instanceof Response) return built;
    const { app, deps, changed } = built;
    const response = await app.fetch(request, env, ctx as never);
    if (changed.size) {
      const clusters = [...changed];
      changed.clear();
      ctx.waitUntil(leaderSweep(deps, clusters));
    }
    return response;
  },
  async scheduled(_event: unknown, env: Env, ctx: ExecutionContext): Promise<void> {
    // A Worker that cannot start (no KEK) says why in the log, once per cron tick.
    ctx.waitUntil(build(env).then(({ deps }) => leaderSweep(deps), (err) => console.error(`control plane cannot start: ${(err as Error).message}`)));
  },
};
