/**
 * `docker events` as a stream: the rows of the events table from a cursor on, in order, one JSON
 * message per line as dockerd sends them. It waits on the notifier between batches, so a change
 * made on any instance reaches every stream (in-process at once, from other instances by the
 * notifier's poll), on Node and on the Worker alike.
 */
import { and, asc, eq, gt, gte, max } from 'drizzle-orm';
import { readClusterIndex } from '../db/database.ts';
import { events } from '../db/schema/index.ts';
import type { AppDeps } from '../deps.ts';

/** dockerd's events.Message for a swarm object. */
export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'swarm';
  time: number;
  /** Milliseconds; written as nanoseconds (the number is too large for a double to hold exactly). */
  timeMs: number;
}

export interface EventQuery {
  /** Milliseconds: events from then on (the retained past); undefined: only new ones. */
  since?: number;
  /** Milliseconds: the stream ends once past it; undefined: it follows until the client leaves. */
  until?: number;
  include: (e: EventMessage) => boolean;
}

const BATCH = 256;
/** How long one wait on the notifier lasts before the stream looks at its clock (for `until`). */
const WAIT_MS = 30_000;

/** dockerd's line: Message's JSON, with timeNano written exactly. */
function line(e: EventMessage): string {
  const { timeMs, ...rest } = e;
  return `${JSON.stringify(rest).slice(0, -1)},"timeNano":${timeMs}000000}\n`;
}

async function startCursor(deps: AppDeps, clusterId: string, since: number | undefined): Promise<number> {
  const db = deps.database.db;
  if (since === undefined) {
    const [row] = await db.select({ id: max(events.id) }).from(events).where(eq(events.clusterId, clusterId));
    return row?.id ?? 0;
  }
  const [first] = await db
    .select({ id: events.id })
    .from(events)
    .where(and(eq(events.clusterId, clusterId), gte(events.time, since)))
    .orderBy(asc(events.id))
    .limit(1);
  if (first) return first.id - 1;
  return startCursor(deps, clusterId, undefined);
}

export function eventStream(deps: AppDeps, clusterId: string, query: EventQuery, signal: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let cursor: number | undefined;
  let index: number | undefined;
  const ended = () => signal.aborted || (query.until !== undefined && deps.now() > query.until);
  return new ReadableStream<Uint8Array>({
    async pull(sink) {
      cursor ??= await startCursor(deps, clusterId, query.since);
      while (!signal.aborted) {
        // The index is read before the rows: a change committed after it wakes the wait below.
        index ??= await readClusterIndex(deps.database.db, clusterId);
        const rows = await deps.database.db
          .select()
          .from(events)
          .where(and(eq(events.clusterId, clusterId), gt(events.id, cursor)))
          .orderBy(asc(events.id))
          .limit(BATCH);
        const out: string[] = [];
        let past = false;
        for (const r of rows) {
          if ((past = query.until !== undefined && r.time > query.until)) break;
          cursor = r.id;
          const message: EventMessage = {
            Type: r.type,
            Action: r.action,
            Actor: { ID: r.actorId, Attributes: r.attributes },
            scope: 'swarm',
            time: Math.floor(r.time / 1000),
            timeMs: r.time,
          };
          if (query.include(message)) out.push(line(message));
        }
        if (out.length) sink.enqueue(encoder.encode(out.join('')));
        if (past) return sink.close();
        if (out.length) return;
        if (rows.length) continue;
        if (ended()) return sink.close();
        const timeout = Math.min(WAIT_MS, query.until === undefined ? WAIT_MS : query.until - deps.now() + 1);
        index = await deps.notifier.waitForChange(clusterId, index, timeout, signal);
      }
      sink.close();
    },
  });
}
