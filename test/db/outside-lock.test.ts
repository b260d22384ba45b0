import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { RenewingClient } from '../../control-plane/db/renewing-client.ts';
import { holdWriteLock, type LockHolder } from './lock-holder.ts';

const WRITE_WAIT_MS = 1500;
const SERVICES = 30;

let t: TestApp;
let holder: LockHolder | undefined;
const dbFile = () => join(t.dir, 'control-plane.db');

beforeEach(async () => {
  t = await createTestApp({ env: { DB_WRITE_WAIT_MS: String(WRITE_WAIT_MS), WAL_LIMIT_BYTES: String(1024 * 1024) } });
  for (let i = 0; i < SERVICES; i++) {
    const res = await t.request('POST', '/v1.41/services/create', serviceSpec(`svc-${i}`, 1));
    expect(res.status).toBe(201);
  }
});
afterEach(async () => {
  await holder?.release();
  holder = undefined;
  t.close();
});

const createService = (name: string) => t.request('POST', '/v1.41/services/create', serviceSpec(name, 1));

async function listServices(): Promise<{ count: number; ms: number }> {
  const started = performance.now();
  const res = await t.request('GET', '/v1.41/services');
  expect(res.status).toBe(200);
  const count = ((await res.json()) as unknown[]).length;
  return { count, ms: performance.now() - started };
}

describe('an outside process holding the write lock', () => {
  it('fails the writes that waited too long with a 503, keeps reads whole and answering, and the first write after release succeeds', async () => {
    holder = await holdWriteLock(dbFile());

    const started = performance.now();
    const refused = createService('during-hold');
    // While the write waits for the lock, reads answer, whole and without waiting for it.
    const reads: { count: number; ms: number }[] = [];
    let settled = false;
    void refused.finally(() => (settled = true));
    while (!settled) {
      reads.push(await listServices());
      await new Promise((r) => setTimeout(r, 50));
    }
    const res = await refused;
    const waited = performance.now() - started;
    expect(res.status).toBe(503);
    expect(res.headers.get('Retry-After')).toBe('1');
    expect(((await res.json()) as { message: string }).message).toMatch(/database stayed locked by another process .*try again/);
    expect(waited).toBeGreaterThanOrEqual(WRITE_WAIT_MS - 300);
    expect(reads.length).toBeGreaterThan(5);
    expect(reads.every((r) => r.count === SERVICES)).toBe(true);
    const slowestRead = Math.max(...reads.map((r) => r.ms));
    console.log(`write refused after ${waited.toFixed(0)} ms; ${reads.length} reads during the hold, slowest ${slowestRead.toFixed(0)} ms`);
    expect(slowestRead).toBeLessThan(500);

    await holder.release();
    holder = undefined;
    // The FIRST write after the release succeeds, and so do the ones after it.
    for (const name of ['after-1', 'after-2', 'after-3']) expect((await createService(name)).status).toBe(201);
    expect((await listServices()).count).toBe(SERVICES + 3);
  });

  it('leaves a large write-ahead log truncated by the first write after the release', async () => {
    // The outside process writes ~6 MB under its lock: the log grows past the 1 MB limit.
    holder = await holdWriteLock(
      dbFile(),
      `CREATE TABLE IF NOT EXISTS ballast (b BLOB); INSERT INTO ballast SELECT randomblob(4096) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1500) SELECT x FROM c);`,
    );
    await holder.release();
    holder = undefined;
    const grown = statSync(`${dbFile()}-wal`).size;
    expect(grown).toBeGreaterThan(4 * 1024 * 1024);
    expect((await createService('after')).status).toBe(201);
    const shrunk = statSync(`${dbFile()}-wal`).size;
    console.log(`WAL ${grown} bytes after the outside write, ${shrunk} bytes after the next write`);
    // Back within WAL_LIMIT_BYTES (1 MiB here): SQLite's own checkpoint keeps journal_size_limit,
    // the same bound; only a log still past it is truncated to nothing.
    expect(shrunk).toBeLessThanOrEqual(1024 * 1024);
  });
});

describe('RenewingClient', () => {
  const plainClient = async (name: string, timeout = 50) => {
    const { createClient } = await import('@libsql/client');
    const url = `file:${join(t.dir, name)}`;
    return { url, client: new RenewingClient(() => createClient({ url, timeout })) };
  };

  it('lets a transaction opened before a renewal finish on its own connection', async () => {
    const { client } = await plainClient('renew.db');
    await client.execute('CREATE TABLE t (v TEXT)');
    const tx = await client.transaction('write');
    await tx.execute("INSERT INTO t VALUES ('inside')");
    await expect(client.execute('SELECT * FROM missing')).rejects.toMatchObject({ code: 'SQLITE_ERROR' });
    expect(client.renewals).toBe(1);
    await new Promise((r) => setImmediate(r));
    await tx.execute("INSERT INTO t VALUES ('after the renewal')");
    await tx.commit();
    expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(2);
    client.close();
  });

  it('replaces the connection a timed-out BEGIN IMMEDIATE left unable to commit', async () => {
    const { url, client } = await plainClient('plain.db');
    await client.execute('PRAGMA journal_mode = WAL');
    await client.execute('CREATE TABLE t (v TEXT)');
    holder = await holdWriteLock(url.slice('file:'.length));
    await expect(client.transaction('write')).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    await holder.release();
    holder = undefined;
    const tx = await client.transaction('write');
    await tx.execute("INSERT INTO t VALUES ('x')");
    await tx.commit();
    expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBe(1);
    expect(client.renewals).toBe(1);
    client.close();
  });
});
