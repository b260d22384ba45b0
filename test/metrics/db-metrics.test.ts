import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { holdWriteLock } from '../db/lock-holder.ts';

const METRICS_TOKEN = 'db-metrics-token';

describe('database series', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { DB_WRITE_WAIT_MS: '600', METRICS_TOKEN } });
  });
  afterAll(() => t?.close());

  const operatorScrape = async () => (await t.app.request('http://cp.test/metrics', { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const sample = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

  it('counts the retries of a write that met another process\'s lock, and times committed transactions', async () => {
    const before = await operatorScrape();
    const holder = await holdWriteLock(join(t.dir, 'control-plane.db'));
    try {
      expect((await t.request('POST', '/v1.41/services/create', serviceSpec('blocked', 1))).status).toBe(503);
    } finally {
      await holder.release();
    }
    expect((await t.request('POST', '/v1.41/services/create', serviceSpec('after', 1))).status).toBe(201);
    const after = await operatorScrape();
    expect(sample(after, 'swarmlet_db_busy_retries_total') - sample(before, 'swarmlet_db_busy_retries_total')).toBeGreaterThanOrEqual(3);
    expect(sample(after, 'swarmlet_db_transaction_duration_seconds_count') - sample(before, 'swarmlet_db_transaction_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    // The refused write waited its whole 600 ms inside one observed transaction attempt.
    expect(sample(after, 'swarmlet_db_transaction_duration_seconds_bucket{le="0.5"}')).toBeLessThan(sample(after, 'swarmlet_db_transaction_duration_seconds_count'));
    expect(after).toMatch(new RegExp(`^swarmlet_http_requests_total\\{cluster="${t.clusterId}",method="POST",route="/services/create",status="503"\\} 1$`, 'm'));
  });
});
