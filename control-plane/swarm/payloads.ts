/**
 * Secrets and configs (`docker secret`, `docker config`): named payloads a service's tasks get as
 * files. Created whole, never changed but for their labels (as in swarmkit), removed only when no
 * service refers to them. A secret's value is sealed before it is stored and never shown again.
 */
import { and, eq } from 'drizzle-orm';
import type { KeyRing } from '../auth/envelope.ts';
import { sealSecretValue, secretOpener } from '../auth/data-keys.ts';
import { bumpIndex, type Reader, type Tx } from '../db/database.ts';
import { type PayloadKind, type PayloadRow, payloads, services } from '../db/schema/index.ts';
import { conflict, invalid } from '../errors.ts';
import { recordEvent } from '../events/record.ts';
import { newId } from '../ids.ts';
import type { ServiceSpec } from './service-spec.ts';

export interface PayloadRequest {
  kind: PayloadKind;
  name: string;
  labels: Record<string, string>;
  data: Uint8Array;
}

/** swarmkit's MaxSecretSize and MaxConfigSize: the value must be shorter. */
export const MAX_PAYLOAD_BYTES: Record<PayloadKind, number> = { secret: 500 * 1024, config: 1000 * 1024 };

const PAYLOAD_NAME = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;

/** swarmkit's validateConfigOrSecretAnnotations and validate{Secret,Config}Spec, in its words. */
export function checkPayload(request: PayloadRequest): void {
  const { kind, name, data } = request;
  if (name === '') throw invalid('name must be provided');
  if (name.length > 64 || !PAYLOAD_NAME.test(name)) {
    throw invalid('invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]');
  }
  const max = MAX_PAYLOAD_BYTES[kind];
  if (data.length >= max || data.length < 1) throw invalid(`${kind} data must be larger than 0 and less than ${max} bytes`);
}

export async function createPayload(tx: Tx, kek: KeyRing, clusterId: string, request: PayloadRequest, now: number): Promise<PayloadRow> {
  const { kind, name } = request;
  const existing = await tx.query.payloads.findFirst({ where: and(eq(payloads.clusterId, clusterId), eq(payloads.kind, kind), eq(payloads.name, name)) });
  if (existing) throw conflict(`${kind} ${name} already exists`);
  const id = newId();
  const data = kind === 'secret' ? await sealSecretValue(tx, kek, clusterId, id, request.data) : base64Of(request.data);
  const version = await bumpIndex(tx, clusterId);
  const [row] = await tx
    .insert(payloads)
    .values({ id, clusterId, kind, name, labels: request.labels, data, version, createdAt: now, updatedAt: now })
    .returning();
  await recordEvent(tx, clusterId, now, { type: kind, action: 'create', actorId: id, attributes: { name } });
  return row!;
}

/** What an update posted: the name, the value if any (`docker stack deploy` posts the whole spec again) and the labels. */
export interface PayloadUpdate {
  name: unknown;
  data: Uint8Array | undefined;
  labels: Record<string, string>;
}

/** The stored value, opened (a secret's) or decoded (a config's). */
async function storedValue(tx: Reader, kek: KeyRing, row: PayloadRow): Promise<Uint8Array> {
  if (row.kind === 'config') return Uint8Array.from(atob(row.data), (ch) => ch.charCodeAt(0));
  return (await secretOpener(tx, kek, row.clusterId))(row.id, row.data);
}

/** Compares in time independent of where they differ: a secret's value must not leak through timing. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * swarmkit's UpdateSecret/UpdateConfig: the name and the value are fixed (the same value posted
 * again is no change); the labels are replaced.
 */
export async function updatePayloadLabels(tx: Tx, kek: KeyRing, row: PayloadRow, version: number, posted: PayloadUpdate, now: number): Promise<void> {
  if (posted.name !== row.name) throw invalid('only updates to Labels are allowed');
  if (posted.data !== undefined && !sameBytes(posted.data, await storedValue(tx, kek, row))) throw invalid('only updates to Labels are allowed');
  if (row.version !== version) {
    throw conflict(`update out of sequence: ${row.kind} ${row.name} is at version ${row.version}, the update was based on ${version}; read it again and retry`);
  }
  const index = await bumpIndex(tx, row.clusterId);
  await tx.update(payloads).set({ labels: posted.labels, version: index, updatedAt: now }).where(eq(payloads.id, row.id));
  await recordEvent(tx, row.clusterId, now, { type: row.kind, action: 'update', actorId: row.id, attributes: { name: row.name } });
}

/** The IDs a service spec refers to, of one kind. */
export function payloadIdsOf(spec: ServiceSpec, kind: PayloadKind): string[] {
  const container = spec.TaskTemplate.ContainerSpec;
  if (kind === 'secret') return (container?.Secrets ?? []).map((r) => r.SecretID);
  return (container?.Configs ?? []).map((r) => r.ConfigID);
}

async function servicesUsing(tx: Reader, row: PayloadRow): Promise<string[]> {
  const rows = await tx.select({ name: services.name, spec: services.spec }).from(services).where(eq(services.clusterId, row.clusterId));
  return rows.filter((s) => payloadIdsOf(s.spec, row.kind).includes(row.id)).map((s) => s.name);
}

export async function removePayload(tx: Tx, row: PayloadRow, now: number): Promise<void> {
  const users = await servicesUsing(tx, row);
  if (users.length) {
    throw invalid(`${row.kind} '${row.name}' is in use by the following service${users.length > 1 ? 's' : ''}: ${users.join(', ')}`);
  }
  await bumpIndex(tx, row.clusterId);
  await tx.delete(payloads).where(eq(payloads.id, row.id));
  await recordEvent(tx, row.clusterId, now, { type: row.kind, action: 'remove', actorId: row.id, attributes: { name: row.name } });
}

// No Buffer: this runs on Workers too.
export const base64Of = (bytes: Uint8Array) => {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
};

type Reference = { File?: { Name?: unknown }; Runtime?: unknown; id: unknown; name: unknown };

/**
 * swarmkit's validateSecretRefsSpec/validateConfigRefsSpec and checkSecretExistence: each reference
 * names an existing payload by ID and name (as the CLI sends them) and a file target no other
 * reference of its kind takes; missing ones are listed in one refusal.
 */
async function checkReferences(tx: Reader, clusterId: string, kind: PayloadKind, refs: Reference[]): Promise<void> {
  const targets = new Map<string, unknown>();
  const missing: string[] = [];
  for (const ref of refs) {
    if (typeof ref.id !== 'string' || ref.id === '' || typeof ref.name !== 'string' || ref.name === '') throw invalid(`malformed ${kind} reference`);
    if (!ref.File && !(kind === 'config' && ref.Runtime)) throw invalid(`malformed ${kind} reference, no target provided`);
    if (ref.File) {
      const file = ref.File.Name;
      if (typeof file !== 'string' || file === '' || file.split('/').includes('..')) {
        throw invalid(`malformed file ${kind} reference, invalid target file name provided`);
      }
      if (targets.has(file)) throw invalid(`${kind} references '${targets.get(file)}' and '${ref.name}' have a conflicting target: '${file}'`);
      targets.set(file, ref.name);
    }
    const row = await tx.query.payloads.findFirst({ where: and(eq(payloads.clusterId, clusterId), eq(payloads.kind, kind), eq(payloads.id, ref.id)) });
    if (!row || row.name !== ref.name) missing.push(ref.name);
  }
  if (missing.length) throw invalid(`${kind}${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`);
}

/** A service's secret and config references, checked against the cluster's before the spec is stored. */
export async function checkServicePayloads(tx: Reader, clusterId: string, spec: ServiceSpec): Promise<void> {
  const container = spec.TaskTemplate.ContainerSpec;
  if (container?.Secrets !== undefined && container.Secrets !== null && !Array.isArray(container.Secrets)) throw invalid('ContainerSpec.Secrets must be a list');
  if (container?.Configs !== undefined && container.Configs !== null && !Array.isArray(container.Configs)) throw invalid('ContainerSpec.Configs must be a list');
  await checkReferences(tx, clusterId, 'secret', (container?.Secrets ?? []).map((r) => ({ ...r, id: r.SecretID, name: r.SecretName })));
  await checkReferences(tx, clusterId, 'config', (container?.Configs ?? []).map((r) => ({ ...r, id: r.ConfigID, name: r.ConfigName })));
}
