import { and, eq, like, or } from 'drizzle-orm';
import type { Reader } from '../db/database.ts';
import { type NetworkRow, networks, nodes, type PayloadKind, type PayloadRow, payloads, services, tasks } from '../db/schema/index.ts';
import { ApiError, notFound } from '../errors.ts';
import type { NodeRow, ServiceRow, TaskRow } from '../orchestrator/cluster-state.ts';

const PREFIX = /^[0-9a-z]{1,24}$/;

/** Docker's resolution order: exact ID, exact name, then a unique ID prefix. */
function pick<T extends { id: string }>(kind: string, ref: string, exact: T[], byPrefix: () => Promise<T[]>): Promise<T> {
  const found = exact.find((r) => r.id === ref) ?? exact[0];
  if (found) return Promise.resolve(found);
  if (!PREFIX.test(ref)) return Promise.reject(notFound(`${kind} ${ref} not found`));
  return byPrefix().then((rows) => {
    if (rows.length === 1) return rows[0]!;
    if (rows.length === 0) throw notFound(`${kind} ${ref} not found`);
    throw new ApiError('invalid', `${kind} ${ref} is ambiguous (more than one match); use more of the ID`);
  });
}

export async function findService(db: Reader, clusterId: string, ref: string): Promise<ServiceRow> {
  const exact = await db
    .select()
    .from(services)
    .where(and(eq(services.clusterId, clusterId), or(eq(services.id, ref), eq(services.name, ref))));
  return pick('service', ref, exact, () =>
    db.select().from(services).where(and(eq(services.clusterId, clusterId), like(services.id, `${ref}%`))).limit(2),
  );
}

export async function findNode(db: Reader, clusterId: string, ref: string): Promise<NodeRow> {
  const exact = await db
    .select()
    .from(nodes)
    .where(and(eq(nodes.clusterId, clusterId), or(eq(nodes.id, ref), eq(nodes.hostname, ref))));
  return pick('node', ref, exact, () =>
    db.select().from(nodes).where(and(eq(nodes.clusterId, clusterId), like(nodes.id, `${ref}%`))).limit(2),
  );
}

export async function findTask(db: Reader, clusterId: string, ref: string): Promise<TaskRow> {
  const exact = await db.select().from(tasks).where(and(eq(tasks.clusterId, clusterId), eq(tasks.id, ref)));
  return pick('task', ref, exact, () =>
    db.select().from(tasks).where(and(eq(tasks.clusterId, clusterId), like(tasks.id, `${ref}%`))).limit(2),
  );
}

export async function findNetwork(db: Reader, clusterId: string, ref: string): Promise<NetworkRow> {
  const exact = await db
    .select()
    .from(networks)
    .where(and(eq(networks.clusterId, clusterId), or(eq(networks.id, ref), eq(networks.name, ref))));
  return pick('network', ref, exact, () =>
    db.select().from(networks).where(and(eq(networks.clusterId, clusterId), like(networks.id, `${ref}%`))).limit(2),
  );
}

/** A secret or a config, as dockerd's lookup finds it: by ID, by name, by a unique ID prefix. */
export async function findPayload(db: Reader, clusterId: string, kind: PayloadKind, ref: string): Promise<PayloadRow> {
  const ofKind = and(eq(payloads.clusterId, clusterId), eq(payloads.kind, kind));
  const exact = await db.select().from(payloads).where(and(ofKind, or(eq(payloads.id, ref), eq(payloads.name, ref))));
  return pick(kind, ref, exact, () => db.select().from(payloads).where(and(ofKind, like(payloads.id, `${ref}%`))).limit(2));
}
