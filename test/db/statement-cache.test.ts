import { type Client, createClient, type ResultSet } from '@libsql/client';
import Database from 'libsql';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { RenewingClient } from '../../control-plane/db/renewing-client.ts';
import { createFileClient, keepStatements } from '../../control-plane/db/statement-cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'swarmlet-stmt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => join(dir, `db-${++files}.sqlite`);

const opened: Client[] = [];
afterEach(() => {
  for (const client of opened.splice(0)) client.close();
  vi.restoreAllMocks();
});
function track<T extends Client>(client: T): T {
  opened.push(client);
  return client;
}
const cachedClient = (file: string, statementCacheSize = 16) => track(createFileClient(`file:${file}`, { timeout: 2000, statementCacheSize }));
const plainClient = (file: string, timeout = 2000) => track(createClient({ url: `file:${file}`, timeout }));

/** Everything a result set tells its caller, indexes and names alike. */
function shape(rs: ResultSet) {
  return {
    columns: rs.columns,
    columnTypes: rs.columnTypes,
    rows: rs.rows.map((row) => ({ byIndex: Array.from({ length: row.length }, (_, i) => row[i]), byName: { ...row } })),
    rowsAffected: rs.rowsAffected,
    lastInsertRowid: rs.lastInsertRowid,
  };
}

/** What a call answered: its result's shape, or its error's class, code and message. */
async function outcome(call: Promise<ResultSet | ResultSet[] | void>) {
  try {
    const result = await call;
    return Array.isArray(result) ? result.map(shape) : result ? shape(result) : 'done';
  } catch (err) {
    const e = err as Error & { code?: string };
    return { error: e.constructor.name, code: e.code, message: e.message };
  }
}

/**
 * Runs one scenario on a client that keeps statements and on @libsql/client's own, each on a file
 * of its own with a plain client beside it (another connection, for changes from outside), and
 * gives both transcripts: a kept statement must answer exactly what a fresh one does.
 */
async function onBoth(scenario: (client: Client, outside: Client, file: string) => Promise<unknown[]>) {
  const cachedFile = newFile();
  const plainFile = newFile();
  const cached = await scenario(cachedClient(cachedFile), plainClient(cachedFile), cachedFile);
  const plain = await scenario(plainClient(plainFile), plainClient(plainFile), plainFile);
  expect(cached).toEqual(plain);
  return cached;
}

const SCHEMA = 'create table t (id integer primary key, name text not null unique, n integer, data text)';
const INSERT = 'insert into t (name, n, data) values (?, ?, ?)';
const BETWEEN = 'select id, name, n from t where n between ? and ? order by id';

describe('keepStatements on a libsql connection', () => {
  it('prepares each SQL text once, drops the least recently used beyond its capacity, and lets go of them on close', () => {
    const connection = new Database(newFile());
    const prepared: string[] = [];
    const prepare = connection.prepare.bind(connection);
    connection.prepare = ((sql: string) => (prepared.push(sql), prepare(sql))) as typeof connection.prepare;
    keepStatements(connection, 2);

    const a = connection.prepare('select 1');
    for (let i = 0; i < 1000; i++) expect(connection.prepare('select 1')).toBe(a);
    expect(prepared).toEqual(['select 1']);
    connection.prepare('select 2');
    connection.prepare('select 1'); // now the most recently used
    connection.prepare('select 3'); // evicts 'select 2'
    connection.prepare('select 1');
    connection.prepare('select 2');
    expect(prepared).toEqual(['select 1', 'select 2', 'select 3', 'select 2']);
    connection.close();
    expect(connection.open).toBe(false);
  });

  it('libsql resets a statement before each run: one left half-read starts over, and runs again after a failed run', () => {
    const connection = new Database(newFile());
    // More rows than libsql fetches in one go (100), so the first row leaves the statement mid-read.
    connection.exec(`${SCHEMA}; with recursive k(i) as (select 1 union all select i + 1 from k where i < 250) insert into t (name, n) select 'row-' || i, i from k`);
    const running = connection.prepare("select sql from sqlite_stmt where busy and sql not like '%sqlite_stmt%'").raw(true);
    const select = connection.prepare('select n from t where n >= ? order by n').raw(true);
    expect(select.iterate([1]).next().value).toEqual([1]);
    expect(running.all()).toEqual([['select n from t where n >= ? order by n']]);
    // The next execution, with other arguments, starts from its own first row and runs to the end.
    const rows = select.all([2]);
    expect(rows).toHaveLength(249);
    expect(rows[0]).toEqual([2]);
    expect(running.all()).toEqual([]);
    const insert = connection.prepare('insert into t (name, n) values (?, 0)');
    expect(() => insert.run(['row-1'])).toThrow(/UNIQUE constraint failed/);
    expect(running.all()).toEqual([]);
    expect(insert.run(['row-251'])).toMatchObject({ changes: 1, lastInsertRowid: 251 });
    connection.close();
  });
});

describe('a file client that keeps its prepared statements', () => {
  it('prepares a repeated SQL text once on the connection, where @libsql/client prepares it every time', async () => {
    // Watched from before the client opens: a kept connection holds on to the `prepare` it found.
    const prepares = async (open: () => Client) => {
      const spy = vi.spyOn(Database.prototype, 'prepare');
      const client = open();
      await client.execute(SCHEMA);
      await client.execute({ sql: INSERT, args: ['a', 1, null] });
      for (let i = 0; i < 1000; i++) expect((await client.execute({ sql: BETWEEN, args: [i % 2, 1] })).rows).toHaveLength(1);
      const count = spy.mock.calls.filter(([sql]) => sql === BETWEEN).length;
      spy.mockRestore();
      return count;
    };
    const cached = await prepares(() => cachedClient(newFile()));
    const plain = await prepares(() => plainClient(newFile()));
    console.log(`1,000 executions of one SELECT: prepared ${cached}× with the cache, ${plain}× without`);
    expect(cached).toBe(1);
    expect(plain).toBe(1000);
  });

  it('answers a statement run with different arguments, positional and named, rows and no rows, as a fresh one does', async () => {
    const transcript = await onBoth(async (client) => {
      const seen: unknown[] = [await outcome(client.execute(SCHEMA))];
      for (let i = 1; i <= 20; i++) seen.push(await outcome(client.execute({ sql: INSERT, args: [`name-${i}`, i * 10, i % 2 ? null : `{"i":${i}}`] })));
      for (const [lo, hi] of [[0, 35], [40, 40], [150, 1000], [500, 600]]) seen.push(await outcome(client.execute({ sql: BETWEEN, args: [lo!, hi!] })));
      const named = 'select name, json_extract(data, :path) as i from t where id = :id';
      for (const id of [2, 3, 4]) seen.push(await outcome(client.execute({ sql: named, args: { id, path: '$.i' } })));
      const update = 'update t set n = n + ? where n >= ?';
      seen.push(await outcome(client.execute({ sql: update, args: [1, 150] })), await outcome(client.execute({ sql: update, args: [1, 1000] })));
      const returning = 'insert into t (name, n) values (?, ?) returning id, name, n';
      seen.push(await outcome(client.execute({ sql: returning, args: ['r1', 1] })), await outcome(client.execute({ sql: returning, args: ['r2', 2] })));
      // Integers beyond 2^53 refuse to become numbers (intMode "number"), and the statement stays usable.
      const big = 'select ? + 0 as v';
      seen.push(await outcome(client.execute({ sql: big, args: [2n ** 60n] })), await outcome(client.execute({ sql: big, args: [7n] })));
      seen.push(await outcome(client.execute({ sql: 'select ? as bool, ? as blob, ? as real', args: [true, new Uint8Array([1, 2]).buffer, 1.5] })));
      return seen;
    });
    expect(transcript).toHaveLength(1 + 20 + 4 + 3 + 2 + 2 + 2 + 1);
    expect(transcript[1]).toMatchObject({ rowsAffected: 1, lastInsertRowid: 1n, rows: [] });
    expect(transcript[20]).toMatchObject({ rowsAffected: 1, lastInsertRowid: 20n });
    expect(transcript[21]).toMatchObject({ columns: ['id', 'name', 'n'], rows: [{ byIndex: [1, 'name-1', 10] }, { byIndex: [2, 'name-2', 20] }, { byIndex: [3, 'name-3', 30] }] });
    expect(transcript[22]).toMatchObject({ rows: [{ byName: { id: 4, name: 'name-4', n: 40 } }] });
    expect((transcript[23] as { rows: unknown[] }).rows).toHaveLength(6);
    expect(transcript[24]).toMatchObject({ rows: [] });
    expect(transcript[25]).toMatchObject({ rows: [{ byName: { name: 'name-2', i: 2 } }] });
    expect(transcript[26]).toMatchObject({ rows: [{ byName: { name: 'name-3', i: null } }] });
    expect(transcript[28]).toMatchObject({ rowsAffected: 6 });
    expect(transcript[29]).toMatchObject({ rowsAffected: 0 });
    expect(transcript[31]).toMatchObject({ rows: [{ byName: { id: 22, name: 'r2', n: 2 } }] });
    expect(transcript[32]).toMatchObject({ error: 'RangeError' });
    expect(transcript[33]).toMatchObject({ rows: [{ byName: { v: 7 } }] });
  });

  it('keeps statements inside transactions and batches: commit, rollback, and a batch that fails half-way', async () => {
    const transcript = await onBoth(async (client) => {
      const count = () => outcome(client.execute('select count(*) as n from t'));
      const seen: unknown[] = [await outcome(client.execute(SCHEMA))];
      const rolledBack = await client.transaction('write');
      seen.push(await outcome(rolledBack.execute({ sql: INSERT, args: ['in-tx', 1, null] })), await outcome(rolledBack.execute({ sql: BETWEEN, args: [0, 9] })));
      await rolledBack.rollback();
      seen.push(await count());
      const committed = await client.transaction('write');
      seen.push(await outcome(committed.execute({ sql: INSERT, args: ['in-tx', 1, null] })));
      seen.push(await outcome(committed.batch([{ sql: INSERT, args: ['in-tx-2', 2, null] }, { sql: BETWEEN, args: [0, 9] }])));
      await committed.commit();
      seen.push(await count());
      // The second insert breaks the unique name: none of the batch stays, and the same statements then work.
      seen.push(await outcome(client.batch([{ sql: INSERT, args: ['b1', 3, null] }, { sql: INSERT, args: ['in-tx', 4, null] }, { sql: BETWEEN, args: [0, 9] }], 'write')));
      seen.push(await count());
      seen.push(await outcome(client.batch([{ sql: INSERT, args: ['b1', 3, null] }, { sql: INSERT, args: ['b2', 4, null] }, { sql: BETWEEN, args: [0, 9] }], 'write')));
      seen.push(await outcome(client.execute({ sql: INSERT, args: ['after', 5, null] })), await count());
      return seen;
    });
    expect(transcript[3]).toMatchObject({ rows: [{ byName: { n: 0 } }] });
    expect(transcript[6]).toMatchObject({ rows: [{ byName: { n: 2 } }] });
    expect(transcript[7]).toMatchObject({ error: 'LibsqlBatchError', code: 'SQLITE_CONSTRAINT' });
    expect(transcript[8]).toMatchObject({ rows: [{ byName: { n: 2 } }] });
    expect((transcript[9] as Array<{ rows: unknown[] }>)[2]!.rows).toHaveLength(4);
    expect(transcript[11]).toMatchObject({ rows: [{ byName: { n: 5 } }] });
  });

  it('a statement that failed holds no snapshot: the next read sees another connection’s write, and the WAL checkpoints', async () => {
    const file = newFile();
    const client = cachedClient(file);
    // A checkpoint that meets a reader waits this long before it says so.
    const outside = plainClient(file, 100);
    await client.execute('PRAGMA journal_mode = WAL');
    await client.execute(SCHEMA);
    await client.execute({ sql: INSERT, args: ['a', 1, '{"ok":1}'] });
    await client.execute({ sql: INSERT, args: ['b', 2, 'not json'] });
    const checkpoint = async () => Number((await outside.execute('PRAGMA wal_checkpoint(TRUNCATE)')).rows[0]![0]);

    // A constraint violation, and a read that fails on its second row (after one row was stepped).
    await expect(client.execute({ sql: INSERT, args: ['a', 3, null] })).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT' });
    const parse = 'select json_extract(data, \'$.ok\') as ok from t where n >= ? order by n';
    await expect(client.execute({ sql: parse, args: [1] })).rejects.toThrow(/malformed JSON/);
    // Sequential calls borrow the same pooled connection: nothing is left running on it.
    expect((await client.execute("select sql from sqlite_stmt where busy and sql not like '%sqlite_stmt%'")).rows).toEqual([]);
    await outside.execute({ sql: INSERT, args: ['c', 3, '{"ok":3}'] });
    expect((await client.execute({ sql: BETWEEN, args: [0, 9] })).rows.map((r) => r.name)).toEqual(['a', 'b', 'c']);
    expect(await checkpoint()).toBe(0);
    expect((await client.execute({ sql: parse, args: [3] })).rows.map((r) => r.ok)).toEqual([3]);
    expect((await client.execute({ sql: INSERT, args: ['d', 4, null] })).rowsAffected).toBe(1);

    // The check can fail: a read left open on the client's connection does hold the checkpoint back.
    const reading = await client.transaction('read');
    await reading.execute({ sql: BETWEEN, args: [0, 9] });
    await outside.execute({ sql: INSERT, args: ['e', 5, null] });
    expect(await checkpoint()).toBe(1);
    await reading.rollback();
    expect(await checkpoint()).toBe(0);
  });

  it('a kept statement follows the schema changing under it, from its own connection or another', async () => {
    const transcript = await onBoth(async (client, outside) => {
      const byId = 'select id, name, n from t where id = ?';
      const seen: unknown[] = [await outcome(client.execute(SCHEMA)), await outcome(client.execute({ sql: INSERT, args: ['a', 1, null] }))];
      seen.push(await outcome(client.execute({ sql: byId, args: [1] })));
      await outside.execute('alter table t add column extra text');
      seen.push(await outcome(client.execute({ sql: byId, args: [1] })), await outcome(client.execute({ sql: INSERT, args: ['b', 2, null] })));
      // The table rebuilt with its columns in another order: the names still find their values.
      await outside.executeMultiple(`
        create table t2 (n integer, name text not null unique, data text, id integer primary key);
        insert into t2 (id, name, n, data) select id, name, n, data from t;
        drop table t; alter table t2 rename to t;`);
      seen.push(await outcome(client.execute({ sql: byId, args: [2] })), await outcome(client.execute({ sql: INSERT, args: ['c', 3, null] })));
      // Gone, then back: the statement fails while its table is missing, and works once it returns.
      await outside.execute('alter table t rename to t_old');
      seen.push(await outcome(client.execute({ sql: byId, args: [2] })));
      await outside.execute('alter table t_old rename to t');
      seen.push(await outcome(client.execute({ sql: byId, args: [3] })));
      // A migration (libSQL's `migrate`: foreign keys off, one transaction) through the same client.
      seen.push(await outcome(client.migrate([{ sql: 'alter table t add column migrated integer not null default 7', args: [] }])));
      seen.push(await outcome(client.execute({ sql: byId, args: [3] })), await outcome(client.execute({ sql: 'select migrated from t where id = ?', args: [3] })));
      // `*` is expanded when SQLite next reads the schema: the first read after an outside ALTER
      // names the old columns, kept statement or fresh (a libSQL behaviour, not the cache's).
      const star = 'select * from t where id = ?';
      seen.push(await outcome(client.execute({ sql: star, args: [1] })));
      await outside.execute('alter table t add column later text');
      seen.push(await outcome(client.execute({ sql: star, args: [1] })), await outcome(client.execute({ sql: star, args: [1] })));
      return seen;
    });
    expect(transcript[3]).toMatchObject({ rows: [{ byName: { id: 1, name: 'a', n: 1 } }] });
    expect(transcript[5]).toMatchObject({ columns: ['id', 'name', 'n'], rows: [{ byIndex: [2, 'b', 2] }] });
    expect(transcript[6]).toMatchObject({ lastInsertRowid: 3n });
    expect(transcript[7]).toMatchObject({ error: 'LibsqlError', message: expect.stringMatching(/no such table: t/) });
    expect(transcript[8]).toMatchObject({ rows: [{ byName: { id: 3, name: 'c', n: 3 } }] });
    expect(transcript[11]).toMatchObject({ rows: [{ byName: { migrated: 7 } }] });
    expect((transcript[13] as { columns: string[] }).columns).not.toContain('later');
    expect((transcript[14] as { columns: string[] }).columns).toContain('later');
  });

  it('renewed, closed and opened again (RenewingClient) it keeps answering from the file', async () => {
    const file = newFile();
    const open = () => createFileClient(`file:${file}`, { timeout: 2000, statementCacheSize: 16 });
    const client = new RenewingClient(open);
    await client.execute(SCHEMA);
    await client.execute({ sql: INSERT, args: ['before', 1, null] });
    // A transaction open across the renewal keeps its connection until it settles.
    const tx = await client.transaction('write');
    await tx.execute({ sql: INSERT, args: ['across', 2, null] });
    client.renew();
    await tx.commit();
    await client.execute({ sql: INSERT, args: ['after', 3, null] });
    expect((await client.execute({ sql: BETWEEN, args: [0, 9] })).rows.map((r) => r.name)).toEqual(['before', 'across', 'after']);
    client.close();
    await expect(client.execute({ sql: BETWEEN, args: [0, 9] })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });

    const again = track(new RenewingClient(open));
    expect((await again.execute({ sql: BETWEEN, args: [0, 9] })).rows.map((r) => r.name)).toEqual(['before', 'across', 'after']);
    expect(client.renewals).toBe(1);
  });
});
