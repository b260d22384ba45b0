import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'libsql';

/**
 * A test double of a libSQL server (sqld), which cannot be installed here: Hrana over HTTP (the
 * JSON encoding, versions 2 and 3) on a real SQLite file, enough for @libsql/client's HTTP client
 * (`@libsql/client` with an http:// URL and `@libsql/client/web`).
 *
 * - `POST /v2/pipeline` and `/v3/pipeline` take `{baton, requests}` and answer `{baton, base_url,
 *   results}`. A null baton opens a stream; every stream has its own SQLite connection, so an
 *   interactive transaction (BEGIN ... COMMIT over several requests) is isolated from the others.
 *   Each answer hands out a fresh baton; an old, unknown or concurrently used baton is refused with
 *   HTTP 400, as sqld does. A `close` request (or `streamIdleMs` without a request) rolls back what
 *   is still open and closes the connection.
 * - Requests: execute, batch (conditions ok/error/not/and/or/is_autocommit), sequence, describe,
 *   store_sql, close_sql, get_autocommit, close. Cursors (`/v3/cursor`) are not served: the client
 *   never uses them over HTTP, and v3 is only probed at `/v3-protobuf`, which answers 404.
 * - Values: integers travel as strings, floats as numbers, blobs as base64.
 * - The native driver is synchronous, so a busy timeout would block this one event loop and the
 *   lock holder could never commit. Instead a statement that gets SQLITE_BUSY is retried
 *   asynchronously until `busyTimeoutMs` passes: other streams' requests keep being served meanwhile.
 * - With `authToken`, every request must carry `Authorization: Bearer <authToken>` (else 401).
 */
export interface HranaServer {
  url: string;
  /** Pipelines served and requests refused for their token (to prove who went through this server). */
  stats: { pipelines: number; unauthorized: number; openStreams: () => number };
  close(): Promise<void>;
}

type Value = { type: 'null' } | { type: 'integer'; value: string } | { type: 'float'; value: number } | { type: 'text'; value: string } | { type: 'blob'; base64: string };
interface Stmt { sql?: string; sql_id?: number; args?: Value[]; named_args?: { name: string; value: Value }[]; want_rows?: boolean }
type Cond = { type: 'ok' | 'error'; step: number } | { type: 'not'; cond: Cond } | { type: 'and' | 'or'; conds: Cond[] } | { type: 'is_autocommit' };
interface StmtResult { cols: { name: string; decltype: string | null }[]; rows: Value[][]; affected_row_count: number; last_insert_rowid: string | null }
interface HranaError { message: string; code: string }
interface Stream { conn: Database.Database; sqls: Map<number, string>; idle?: NodeJS.Timeout; closed: boolean }

class ProtoError extends Error {
  readonly code = 'PROTO_ERROR';
}

function toValue(v: unknown): Value {
  if (v === null || v === undefined) return { type: 'null' };
  if (typeof v === 'bigint') return { type: 'integer', value: v.toString() };
  if (typeof v === 'number') return { type: 'float', value: v };
  if (typeof v === 'string') return { type: 'text', value: v };
  if (v instanceof Uint8Array) return { type: 'blob', base64: Buffer.from(v).toString('base64') };
  throw new Error(`cannot encode a ${typeof v} as a Hrana value`);
}

function fromValue(v: Value): unknown {
  switch (v.type) {
    case 'null': return null;
    case 'integer': return BigInt(v.value);
    case 'float': return Number(v.value);
    case 'text': return v.value;
    case 'blob': return Buffer.from(v.base64, 'base64');
    default: throw new ProtoError(`unknown value type ${(v as { type: string }).type}`);
  }
}

function toError(err: unknown): HranaError {
  const e = err as { message?: string; code?: string };
  return { message: e.message ?? String(err), code: typeof e.code === 'string' ? e.code : 'UNKNOWN' };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startHranaServer(opts: { file: string; authToken?: string; busyTimeoutMs?: number; streamIdleMs?: number }): Promise<HranaServer> {
  const busyTimeoutMs = opts.busyTimeoutMs ?? 10_000;
  const streamIdleMs = opts.streamIdleMs ?? 15_000;
  // Held open for the server's life: WAL (readers never wait for the writer) stays on, and closing
  // a stream's connection never has to checkpoint and drop the WAL.
  const keeper = new Database(opts.file);
  keeper.exec('PRAGMA journal_mode = WAL');
  const batons = new Map<string, Stream>();
  const streams = new Set<Stream>();
  const stats = { pipelines: 0, unauthorized: 0, openStreams: () => streams.size };

  const closeStream = (stream: Stream) => {
    if (stream.closed) return;
    stream.closed = true;
    clearTimeout(stream.idle);
    streams.delete(stream);
    try {
      if (stream.conn.inTransaction) stream.conn.exec('ROLLBACK');
    } finally {
      stream.conn.close();
    }
  };

  /** Runs one statement on the stream's connection; SQLITE_BUSY (only) is waited out, without blocking. */
  async function execute(stream: Stream, stmt: Stmt): Promise<StmtResult> {
    const sql = stmt.sql ?? (stmt.sql_id !== undefined ? stream.sqls.get(stmt.sql_id) : undefined);
    if (sql === undefined) throw new ProtoError(`no SQL text (sql_id ${stmt.sql_id} is not stored)`);
    const params = stmt.named_args?.length
      ? Object.fromEntries(stmt.named_args.map((a) => [a.name.replace(/^[:@$]/, ''), fromValue(a.value)]))
      : (stmt.args ?? []).map(fromValue);
    // Retried on the same prepared statement: one left behind after SQLITE_BUSY stays "in progress"
    // (the native driver cannot reset it) and would make this connection's COMMIT fail.
    const prepared = stream.conn.prepare(sql).safeIntegers(true);
    const deadline = Date.now() + busyTimeoutMs;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        return run(stream.conn, prepared, stmt.want_rows !== false, params);
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
        await sleep(wait);
      }
    }
  }

  function run(conn: Database.Database, stmt: Database.Statement, wantRows: boolean, params: unknown): StmtResult {
    const scalar = (q: string) => String((conn.prepare(q).safeIntegers(true).raw(true).all() as unknown[][])[0]![0]);
    if (!stmt.reader) {
      const info = stmt.run(params);
      return { cols: [], rows: [], affected_row_count: Number(info.changes), last_insert_rowid: String(info.lastInsertRowid) };
    }
    // A reader may still write (INSERT ... RETURNING): count changes only if it made some.
    const before = scalar('SELECT total_changes()');
    const rows = stmt.raw(true).all(params) as unknown[][];
    const changed = scalar('SELECT total_changes()') !== before;
    return {
      cols: stmt.columns().map((c) => ({ name: c.name, decltype: c.type })),
      rows: wantRows ? rows.map((row) => row.map(toValue)) : [],
      affected_row_count: changed ? Number(scalar('SELECT changes()')) : 0,
      last_insert_rowid: scalar('SELECT last_insert_rowid()'),
    };
  }

  async function batch(stream: Stream, steps: { condition?: Cond; stmt: Stmt }[]) {
    const step_results: (StmtResult | null)[] = [];
    const step_errors: (HranaError | null)[] = [];
    const holds = (c: Cond): boolean => {
      switch (c.type) {
        case 'ok': return step_results[c.step] != null;
        case 'error': return step_errors[c.step] != null;
        case 'not': return !holds(c.cond);
        case 'and': return c.conds.every(holds);
        case 'or': return c.conds.some(holds);
        case 'is_autocommit': return !stream.conn.inTransaction;
        default: throw new ProtoError(`unknown condition ${(c as { type: string }).type}`);
      }
    };
    for (const [i, step] of steps.entries()) {
      step_results[i] = null;
      step_errors[i] = null;
      if (step.condition && !holds(step.condition)) continue;
      try {
        step_results[i] = await execute(stream, step.stmt);
      } catch (err) {
        step_errors[i] = toError(err);
      }
    }
    return { step_results, step_errors };
  }

  function describe(stream: Stream, sql: string) {
    const stmt = stream.conn.prepare(sql);
    const names = [...sql.matchAll(/[:@$][A-Za-z_]\w*|\?\d*/g)].map((m) => (m[0].startsWith('?') ? null : m[0]));
    return {
      params: names.map((name) => ({ name })),
      cols: stmt.reader ? stmt.columns().map((c) => ({ name: c.name, decltype: c.type })) : [],
      is_explain: /^\s*EXPLAIN\b/i.test(sql),
      is_readonly: /^\s*(SELECT|EXPLAIN|VALUES|WITH\s[^;]*\bSELECT\b(?![^;]*\b(INSERT|UPDATE|DELETE)\b))/i.test(sql),
    };
  }

  async function handle(stream: Stream, req: Record<string, any>): Promise<Record<string, unknown>> {
    const sqlOf = () => {
      const sql = req.sql ?? stream.sqls.get(req.sql_id);
      if (typeof sql !== 'string') throw new ProtoError(`no SQL text (sql_id ${req.sql_id} is not stored)`);
      return sql;
    };
    switch (req.type) {
      case 'close':
        closeStream(stream);
        return { type: 'close' };
      case 'execute':
        return { type: 'execute', result: await execute(stream, req.stmt) };
      case 'batch':
        return { type: 'batch', result: await batch(stream, req.batch.steps) };
      case 'sequence':
        // Not retried on SQLITE_BUSY: a half-run script must not run twice.
        stream.conn.exec(sqlOf());
        return { type: 'sequence' };
      case 'describe':
        return { type: 'describe', result: describe(stream, sqlOf()) };
      case 'store_sql':
        stream.sqls.set(req.sql_id, req.sql);
        return { type: 'store_sql' };
      case 'close_sql':
        stream.sqls.delete(req.sql_id);
        return { type: 'close_sql' };
      case 'get_autocommit':
        return { type: 'get_autocommit', is_autocommit: !stream.conn.inTransaction };
      default:
        throw new ProtoError(`unknown request type ${req.type}`);
    }
  }

  async function pipeline(body: { baton?: string | null; requests: Record<string, any>[] }) {
    let stream: Stream | undefined;
    if (body.baton == null) {
      stream = { conn: new Database(opts.file), sqls: new Map(), closed: false };
      streams.add(stream);
    } else {
      // A baton is good for one request: the stream is taken out until this one answers.
      stream = batons.get(body.baton);
      batons.delete(body.baton);
      if (!stream) return { status: 400, body: { message: 'The baton is invalid, expired or in use', code: 'STREAM_EXPIRED' } };
    }
    clearTimeout(stream.idle);
    const results = [];
    for (const req of body.requests) {
      if (stream.closed) {
        results.push({ type: 'error', error: { message: 'The stream has already been closed', code: 'STREAM_CLOSED' } });
        continue;
      }
      try {
        results.push({ type: 'ok', response: await handle(stream, req) });
      } catch (err) {
        results.push({ type: 'error', error: toError(err) });
      }
    }
    let baton: string | null = null;
    if (!stream.closed) {
      baton = randomUUID();
      batons.set(baton, stream);
      const s = stream;
      s.idle = setTimeout(() => {
        batons.delete(baton!);
        closeStream(s);
      }, streamIdleMs);
      s.idle.unref();
    }
    return { status: 200, body: { baton, base_url: null, results } };
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }).end(text);
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (opts.authToken !== undefined && req.headers.authorization !== `Bearer ${opts.authToken}`) {
        stats.unauthorized++;
        return send(res, 401, 'Unauthorized');
      }
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'GET' && ['/', '/health', '/v2', '/v3'].includes(path)) return send(res, 200, '');
      if (req.method !== 'POST' || (path !== '/v2/pipeline' && path !== '/v3/pipeline')) return send(res, 404, 'Not found');
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!Array.isArray(body?.requests)) throw new Error('requests must be an array');
      } catch (err) {
        return send(res, 400, { message: `Invalid pipeline request: ${(err as Error).message}`, code: 'PROTO_ERROR' });
      }
      stats.pipelines++;
      const out = await pipeline(body);
      send(res, out.status, out.body);
    } catch (err) {
      send(res, 500, { message: (err as Error).message, code: 'INTERNAL' });
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const stream of [...streams]) closeStream(stream);
      keeper.close();
    },
  };
}
