import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';

const METRICS_TOKEN = 'metrics-token-for-tests';

describe('/metrics, /healthz and /readyz', () => {
  let t: TestApp;
  let other: { apiKey: string; clusterId: string };
  const scrape = async (token?: string) => t.app.request('http://cp.test/metrics', token ? { headers: { Authorization: `Bearer ${token}` } } : {});

  beforeAll(async () => {
    t = await createTestApp({ env: { METRICS_TOKEN } });
    const res = await t.app.request('http://cp.test/admin/v1/clusters', {
      method: 'POST',
      headers: { Authorization: 'Bearer admin-secret-for-tests', 'Content-Type': 'application/json' },
      body: JSON.stringify({ tenant: 'other', name: 'theirs' }),
    });
    expect(res.status).toBe(201);
    other = (await res.json()) as { apiKey: string; clusterId: string };
    // One service in each cluster, so each has task rows and request series of its own.
    expect((await t.request('POST', '/v1.41/services/create', serviceSpec('web', 2))).status).toBe(201);
    const theirs = await t.app.request('http://cp.test/v1.41/services/create', {
      method: 'POST',
      headers: { Authorization: `Bearer ${other.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(serviceSpec('secret-name', 1)),
    });
    expect(theirs.status).toBe(201);
    expect((await t.request('GET', '/v1.41/services/web')).status).toBe(200);
  });
  afterAll(() => t?.close());

  it('refuses a scrape without credentials or with a wrong one (401), in Docker\'s error shape', async () => {
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(((await none.json()) as { message: string }).message).toMatch(/missing credentials/);
    expect((await scrape('not-a-key')).status).toBe(401);
  });

  it('gives a tenant its own cluster\'s series only: no other cluster ID, no instance-wide series', async () => {
    const res = await scrape(t.apiKey);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain(`swarmlet_tasks{cluster="${t.clusterId}",desired_state="running",state="pending"} 2`);
    expect(text).toContain(`swarmlet_tasks_pending{cluster="${t.clusterId}",reason="unassigned"} 2`);
    // No leader ran here, so the scheduler has given no reason yet.
    // The route pattern, never the raw path with the service's name in it.
    expect(text).toMatch(new RegExp(`swarmlet_http_requests_total\\{cluster="${t.clusterId}",method="GET",route="/services/:ref",status="200"\\} 1`));
    expect(text).not.toContain('/services/web');
    expect(text).not.toContain(other.clusterId);
    expect(text).not.toContain('secret-name');
    expect(text).not.toContain('swarmlet_db_transaction_duration_seconds');
    expect(text).not.toContain('swarmlet_leader_lease');
    expect(text).not.toContain('process_resident_memory_bytes');
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toContain(`cluster="${t.clusterId}"`);
  });

  it('gives the metrics token every cluster and the instance-wide series', async () => {
    const text = await (await scrape(METRICS_TOKEN)).text();
    expect(text).toContain(`swarmlet_tasks{cluster="${other.clusterId}",desired_state="running",state="pending"} 1`);
    expect(text).toContain(`swarmlet_tasks{cluster="${t.clusterId}",desired_state="running",state="pending"} 2`);
    expect(text).toMatch(/^swarmlet_db_transaction_duration_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^swarmlet_http_requests_total\{method="GET",route="\/metrics",status="401"\} 2$/m);
  });

  it('gives the metrics token this process\'s memory: resident, JavaScript heap and external, as this process measures them', async () => {
    const text = await (await scrape(METRICS_TOKEN)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    const rss = value('process_resident_memory_bytes');
    const used = value('nodejs_heap_size_used_bytes');
    const total = value('nodejs_heap_size_total_bytes');
    const now = process.memoryUsage();
    // The app runs in this process: the scrape read this process's figures a moment ago.
    expect(rss).toBeGreaterThan(now.rss / 2);
    expect(rss).toBeLessThan(now.rss * 2);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(total);
    expect(total).toBeLessThan(rss);
    expect(value('nodejs_external_memory_bytes')).toBeGreaterThan(0);
  });

  it('answers /healthz and /readyz without credentials and says nothing else', async () => {
    const health = await t.app.request('http://cp.test/healthz');
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    const ready = await t.app.request('http://cp.test/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ready\n');
  });

  it('is not ready while the newest migration is missing from the database', async () => {
    const db = t.deps.database.db;
    const [newest] = await db.all<{ hash: string; created_at: number }>(sql`select hash, created_at from __drizzle_migrations order by created_at desc limit 1`);
    await db.run(sql`delete from __drizzle_migrations where created_at = ${newest!.created_at}`);
    try {
      const ready = await t.app.request('http://cp.test/readyz');
      expect(ready.status).toBe(503);
      expect(await ready.text()).toBe('not ready\n');
    } finally {
      await db.run(sql`insert into __drizzle_migrations (hash, created_at) values (${newest!.hash}, ${newest!.created_at})`);
    }
    expect((await t.app.request('http://cp.test/readyz')).status).toBe(200);
  });
});
