import type { Client } from '@libsql/client';
import { eq, sql, type SQLWrapper } from 'drizzle-orm';
import type { LibSQLDatabase } from 'drizzle-orm/libsql/driver-core';
import { DATABASE_DEFAULTS } from '../config.ts';
import { ApiError } from '../errors.ts';
import { nextTurn } from '../event-loop-turn.ts';
import { isDatabaseBusy } from './faults.ts';
import * as schema from './schema/index.ts';

export type Db = LibSQLDatabase<typeof schema>;

/** How every runtime builds drizzle over its own libSQL client (Node's native one, or the web one). */
export const DRIZZLE_OPTIONS = { schema, casing: 'snake_case' } as const;
/** A drizzle transaction; every write goes through one. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Reads run on the database or inside a transaction alike. */
export type Reader = Db | Tx;

/** How writes wait for a database file other processes also write. */
export interface WriteTuning {
  writeWaitMs: number;
  /** Runs after each serialised write, while this process holds no transaction (log upkeep). */
  afterWrite?: (client: Client) => Promise<void>;
}

/** What the metrics learn from the write path. */
export interface WriteObserver {
  /** A write transaction took this long, from its turn to its commit (lock retries included). */
  transaction(seconds: number): void;
  /** An attempt met another process's lock and will be tried again. */
  busyRetry(): void;
}

/**
 * The database with write transactions serialised in-process. libSQL's file driver is synchronous,
 * so two writers in one process would block the event loop on each other's lock; across processes
 * a short busy timeout and an asynchronous retry do the waiting, so reads keep answering while
 * another process holds the lock. Every transaction is BEGIN IMMEDIATE (libSQL's "write" mode), so
 * read-modify-write never fails half-way with SQLITE_BUSY.
 */
export class Database {
  private tail: Promise<unknown> = Promise.resolve();
  private observer: WriteObserver | undefined;

  /**
   * `serializeWrites` is for the in-process file driver. Over HTTP (Workers, a libSQL server) the
   * server does the waiting, and on Workers a request must not wait on another request's promise.
   */
  constructor(
    readonly client: Client,
    readonly db: Db,
    private readonly serializeWrites = true,
    private readonly tuning: WriteTuning = DATABASE_DEFAULTS,
  ) {}

  /** The metrics are built after the database is opened (and migrated). */
  observeWrites(observer: WriteObserver): void {
    this.observer = observer;
  }

  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (!this.serializeWrites) return this.timed(() => this.db.transaction(fn));
    // The wait counts from the request, not from its turn: writes queued behind one that waits on
    // another process's lock do not each wait the whole time again.
    const deadline = Date.now() + this.tuning.writeWaitMs;
    // Each write in a turn of its own: queued writes must not run back to back in one (event-loop-turn.ts).
    const run = this.tail.then(nextTurn).then(() => this.timed(() => this.writeWhenLockFree(fn, deadline)));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Retries `attempt` while another process holds the write lock, up to the write wait; then the
   * write fails alone with a 503 (the client's connections were renewed on the way, so the next
   * write starts clean). An attempt that failed after `fn` began is not retried: it may have acted.
   */
  async whenLockFree<T>(
    attempt: () => Promise<T>,
    deadline = Date.now() + this.tuning.writeWaitMs,
    began: () => boolean = () => false,
  ): Promise<T> {
    for (let pause = 10; ; pause = Math.min(pause * 2, 100)) {
      try {
        return await attempt();
      } catch (err) {
        if (!isDatabaseBusy(err)) throw err;
        if (began() || Date.now() + pause >= deadline) throw databaseBusy(this.tuning.writeWaitMs);
        this.observer?.busyRetry();
        await new Promise((resolve) => setTimeout(resolve, pause / 2 + Math.random() * pause));
      }
    }
  }

  private async timed<T>(transaction: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await transaction();
    } finally {
      this.observer?.transaction((performance.now() - started) / 1000);
    }
  }

  close(): void {
    this.client.close();
  }

  private async writeWhenLockFree<T>(fn: (tx: Tx) => Promise<T>, deadline: number): Promise<T> {
    let began = false;
    const result = await this.whenLockFree(
      () =>
        this.db.transaction((tx) => {
          began = true;
          return fn(tx);
        }),
      deadline,
      () => began,
    );
    await this.tuning.afterWrite?.(this.client);
    return result;
  }
}

function databaseBusy(waitedMs: number): ApiError {
  return new ApiError(
    'unavailable',
    `the database stayed locked by another process for ${waitedMs} ms; nothing was changed, try again`,
    1,
  );
}

const bumped = new WeakMap<Tx, Map<string, number>>();

/**
 * Bumps the cluster's change index for this transaction and returns it. Every object a
 * transaction changes carries the same index: a second call in the same transaction returns the
 * first call's value.
 */
export async function bumpIndex(tx: Tx, clusterId: string): Promise<number> {
  let indexes = bumped.get(tx);
  const known = indexes?.get(clusterId);
  if (known !== undefined) return known;
  const [row] = await tx
    .update(schema.clusters)
    .set({ changeIndex: sql`${schema.clusters.changeIndex} + 1` })
    .where(eq(schema.clusters.id, clusterId))
    .returning({ index: schema.clusters.changeIndex });
  if (!row) throw new Error(`cluster ${clusterId} vanished during a write`);
  if (!indexes) bumped.set(tx, (indexes = new Map()));
  indexes.set(clusterId, row.index);
  return row.index;
}

/** The index this transaction bumped the cluster to, if it changed anything in it. */
export function bumpedIndex(tx: Tx, clusterId: string): number | undefined {
  return bumped.get(tx)?.get(clusterId);
}

/** A cluster's current change index (what long-polls compare against). */
/** `column in (…)` over a JSON array of IDs: one bound parameter however many a batch holds. */
export const inIds = (column: SQLWrapper, ids: readonly string[]) => sql`${column} in (select value from json_each(${JSON.stringify(ids)}))`;

/**
 * `column = value` that SQLite does not look up by index (the unary `+`), beside an `inIds` on a
 * more selective column: without statistics the planner takes the cluster's index for a cluster
 * filter over the node's for a list of nodes, and scans every task of the cluster per answer.
 */
export const alsoEq = (column: SQLWrapper, value: string) => sql`+${column} = ${value}`;

/** Every long-poll reads it before it waits: one plain statement, not drizzle's relational query builder (~0.2 ms a call). */
export async function readClusterIndex(db: Reader, clusterId: string): Promise<number> {
  const [row] = await db.all<{ change_index: number }>(sql`select change_index from clusters where id = ${clusterId}`);
  return row?.change_index ?? 0;
}
