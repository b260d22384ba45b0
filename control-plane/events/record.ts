import { and, eq, lt } from 'drizzle-orm';
import type { Tx } from '../db/database.ts';
import { type EventAction, type EventType, events } from '../db/schema/index.ts';

export interface SwarmEvent {
  type: EventType;
  action: EventAction;
  /** The object's ID. */
  actorId: string;
  /** dockerd's attributes: `name`, and for an update the `<field>.old` / `<field>.new` pairs that changed. */
  attributes: Record<string, string>;
}

/** Records a change for `docker events`, in the transaction that makes it: no event without its change, nor the reverse. */
export async function recordEvent(tx: Tx, clusterId: string, now: number, event: SwarmEvent): Promise<void> {
  await tx.insert(events).values({ clusterId, ...event, time: now });
}

/** What changed between two values of a field, in dockerd's `<field>.old` / `<field>.new` form; nothing if equal. */
export function changed(field: string, before: string | number | undefined, after: string | number | undefined): Record<string, string> {
  if (before === after) return {};
  return { [`${field}.old`]: String(before ?? ''), [`${field}.new`]: String(after ?? '') };
}

/** Drops a cluster's events older than the retention: `--since` reaches back that far. */
export async function dropExpiredEvents(tx: Tx, clusterId: string, before: number): Promise<void> {
  await tx.delete(events).where(and(eq(events.clusterId, clusterId), lt(events.time, before)));
}
