import type { Client } from '@libsql/client';
import { eq, sql } from 'drizzle-orm';
import type { LibSQLDatabase } from 'drizzle-orm/libsql/driver-core';
import * as schema from './schema/index.ts';

export type Db = LibSQLDatabase<typeof schema>;

/** How every runtime builds drizzle over its own libSQL client (Node's native one, or the web one). */
export const DRIZZLE_OPTIONS = { schema, casing: 'snake_case' } as const;
/** A drizzle transaction; every write goes through one. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Reads run on the database or inside a transaction alike. */
export type Reader = Db | Tx;

/**
 * The database with write transactions serialised in-process. libSQL's file driver is synchronous,
 * so two writers in one process would block the event loop on each other's lock; across processes
 * the busy timeout does the waiting. Every transaction is BEGIN IMMEDIATE (libSQL's "write" mode), so
 * read-modify-write never fails half-way with SQLITE_BUSY.
 */
export class Database {
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * `serializeWrites` is for the in-process file driver. Over HTTP (Workers, a libSQL server) the
   * server does the waiting, and on Workers a request must not wait on another request's promise.
   */
  constructor(
    readonly client: Client,
    readonly db: Db,
    private readonly serializeWrites = true,
  ) {}

  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (!this.serializeWrites) return this.db.transaction(fn);
    const run = this.tail.then(() => this.db.transaction(fn));
    this.tail = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.client.close();
  }
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
export async function readClusterIndex(db: Reader, clusterId: string): Promise<number> {
  const row = await db.query.clusters.findFirst({ columns: { changeIndex: true }, where: eq(schema.clusters.id, clusterId) });
  return row?.changeIndex ?? 0;
}
