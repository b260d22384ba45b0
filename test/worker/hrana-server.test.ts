import { createClient, type Client } from '@libsql/client';
import { createClient as createWebClient } from '@libsql/client/web';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../control-plane/db/open.ts';
import { startHranaServer, type HranaServer } from '../harness/hrana-server.ts';

const TOKEN = 'hrana-test-token';

/** The Hrana test server must behave like sqld for @libsql/client's HTTP client, or nothing built on it proves anything. */
describe('Hrana test server with @libsql/client over http://', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-hrana-'));
  let server: HranaServer;
  let client: Client;
  let other: Client;

  beforeAll(async () => {
    server = await startHranaServer({ file: join(dir, 'db.sqlite'), authToken: TOKEN });
    client = createClient({ url: server.url, authToken: TOKEN });
    other = createClient({ url: server.url, authToken: TOKEN });
    await client.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, f REAL, s TEXT, b BLOB)');
  });
  afterAll(async () => {
    client?.close();
    other?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips every value type, with affected rows and the last rowid', async () => {
    const big = 9007199254740993n; // beyond 2^53: must travel as a string, not a float
    const ins = await client.execute({ sql: 'INSERT INTO t (n, f, s, b) VALUES (?, ?, ?, ?)', args: [big, 1.5, 'héllo', new Uint8Array([0, 1, 255])] });
    expect(ins.rowsAffected).toBe(1);
    expect(ins.lastInsertRowid).toBe(1n);
    await client.execute({ sql: 'INSERT INTO t (n, s) VALUES (:n, $s)', args: { n: 7, s: null } });
    const bigints = createClient({ url: server.url, authToken: TOKEN, intMode: 'bigint' });
    const rs = await bigints.execute('SELECT id, n, f, s, b, typeof(n) AS tn FROM t ORDER BY id');
    bigints.close();
    expect(rs.columns).toEqual(['id', 'n', 'f', 's', 'b', 'tn']);
    expect(rs.columnTypes).toEqual(['INTEGER', 'INTEGER', 'REAL', 'TEXT', 'BLOB', '']);
    expect(rs.rows[0]!.n).toBe(big);
    expect(rs.rows[0]!.f).toBe(1.5);
    expect(rs.rows[0]!.s).toBe('héllo');
    expect([...new Uint8Array(rs.rows[0]!.b as ArrayBuffer)]).toEqual([0, 1, 255]);
    expect(rs.rows[1]!.n).toBe(7n);
    expect(rs.rows[1]!.tn).toBe('integer');
    expect(rs.rows[1]!.s).toBeNull();
    // UPDATE ... RETURNING is a reader that writes: both its rows and its count come back.
    const upd = await client.execute('UPDATE t SET f = 2.5 RETURNING id');
    expect(upd.rows.map((r) => r.id)).toEqual([1, 2]);
    expect(upd.rowsAffected).toBe(2);
    expect((await client.execute('SELECT count(*) AS c FROM t')).rowsAffected).toBe(0);
  });

  it('reports SQL errors with their SQLite code and keeps serving', async () => {
    await expect(client.execute('INSERT INTO t (id) VALUES (1)')).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    await expect(client.execute('SELEC 1')).rejects.toThrow(/syntax error/);
    expect((await client.execute('SELECT 1 AS one')).rows[0]!.one).toBe(1);
  });

  it('runs a batch atomically: a failing statement rolls the whole batch back', async () => {
    await expect(
      client.batch(['INSERT INTO t (id, s) VALUES (100, \'batch\')', 'INSERT INTO t (id) VALUES (1)'], 'write'),
    ).rejects.toThrow(/UNIQUE constraint failed/);
    expect((await client.execute('SELECT count(*) AS c FROM t WHERE id = 100')).rows[0]!.c).toBe(0);
    const ok = await client.batch(['INSERT INTO t (id, s) VALUES (100, \'batch\')', 'SELECT s FROM t WHERE id = 100'], 'write');
    expect(ok[1]!.rows[0]!.s).toBe('batch');
  });

  it('keeps an interactive write transaction invisible to other streams until it commits', async () => {
    const tx = await client.transaction('write');
    await tx.execute("INSERT INTO t (id, s) VALUES (200, 'pending')");
    expect((await tx.execute('SELECT s FROM t WHERE id = 200')).rows).toHaveLength(1);
    expect((await other.execute('SELECT s FROM t WHERE id = 200')).rows).toHaveLength(0);
    await tx.commit();
    expect((await other.execute('SELECT s FROM t WHERE id = 200')).rows[0]!.s).toBe('pending');

    const rolledBack = await client.transaction('write');
    await rolledBack.execute("INSERT INTO t (id, s) VALUES (201, 'gone')");
    await rolledBack.rollback();
    expect((await other.execute('SELECT s FROM t WHERE id = 201')).rows).toHaveLength(0);
    expect(server.stats.openStreams()).toBe(0);
  });

  it('makes a second writer wait for the first (BEGIN IMMEDIATE) without blocking the first one\'s commit', async () => {
    const order: string[] = [];
    const first = await client.transaction('write');
    const firstRead = await first.execute('SELECT coalesce(max(n), 0) AS m FROM t WHERE id >= 300');
    await first.execute({ sql: 'INSERT INTO t (id, n) VALUES (300, ?)', args: [Number(firstRead.rows[0]!.m) + 1] });
    // The second writer's BEGIN is held off while the first holds the write lock...
    const second = (async () => {
      const tx = await other.transaction('write');
      const rs = await tx.execute('SELECT coalesce(max(n), 0) AS m FROM t WHERE id >= 300');
      order.push(`second read ${rs.rows[0]!.m}`);
      await tx.execute({ sql: 'INSERT INTO t (id, n) VALUES (301, ?)', args: [Number(rs.rows[0]!.m) + 1] });
      await tx.commit();
    })();
    await new Promise((r) => setTimeout(r, 200));
    order.push('first commits');
    // ...and yet the first one's later requests are still served: the server did not block.
    await first.commit();
    await second;
    expect(order).toEqual(['first commits', 'second read 1']);
    const rs = await client.execute('SELECT id, n FROM t WHERE id >= 300 ORDER BY id');
    expect(rs.rows.map((r) => [r.id, r.n])).toEqual([[300, 1], [301, 2]]);
  });

  it('serves @libsql/client/web the same way', async () => {
    const web = createWebClient({ url: server.url, authToken: TOKEN });
    const tx = await web.transaction('write');
    await tx.execute("INSERT INTO t (id, s) VALUES (400, 'web')");
    await tx.commit();
    expect((await web.execute('SELECT s FROM t WHERE id = 400')).rows[0]!.s).toBe('web');
    web.close();
  });

  it('refuses a wrong token and a stale baton', async () => {
    const wrong = createClient({ url: server.url, authToken: 'nope' });
    await expect(wrong.execute('SELECT 1')).rejects.toThrow(/401/);
    wrong.close();
    const post = (body: unknown) =>
      fetch(`${server.url}/v2/pipeline`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });
    const opened = (await (await post({ baton: null, requests: [{ type: 'get_autocommit' }] })).json()) as { baton: string; results: unknown[] };
    expect(opened.results).toEqual([{ type: 'ok', response: { type: 'get_autocommit', is_autocommit: true } }]);
    const next = (await (await post({ baton: opened.baton, requests: [{ type: 'close' }] })).json()) as { baton: string | null };
    expect(next.baton).toBeNull();
    expect((await post({ baton: opened.baton, requests: [{ type: 'close' }] })).status).toBe(400);
  });

  it('lets control-plane/db/open.ts apply the drizzle migrations over http://', async () => {
    const url = server.url;
    const database = await openDatabase(url, TOKEN);
    const tables = await database.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    expect(tables.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['clusters', 'services', 'tasks', '__drizzle_migrations']));
    const journal = JSON.parse(readFileSync(join(import.meta.dirname, '../../migrations/meta/_journal.json'), 'utf8')) as { entries: unknown[] };
    const applied = async (db: typeof database) => (await db.client.execute('SELECT count(*) AS c FROM __drizzle_migrations')).rows[0]!.c;
    expect(await applied(database)).toBe(journal.entries.length);
    database.close();
    // A second open finds the schema current and applies nothing again.
    const again = await openDatabase(url, TOKEN);
    expect(await applied(again)).toBe(journal.entries.length);
    again.close();
  });
});
