import { Hono } from 'hono';
import { and, eq } from 'drizzle-orm';
import { type AppEnv, writeCluster } from '../app-env.ts';
import { type PayloadKind, type PayloadRow, payloads } from '../db/schema/index.ts';
import { invalid } from '../errors.ts';
import { isObject, isStringMap } from '../json-guards.ts';
import { findPayload } from '../swarm/lookup.ts';
import { checkPayload, createPayload, type PayloadRequest, removePayload, updatePayloadLabels } from '../swarm/payloads.ts';
import { emptyOk, jsonOk, readJsonObject, versionParam } from './body.ts';
import { matchesAny, matchesLabels, parseFilters } from './filters.ts';
import { objectMeta } from './views.ts';

/** dockerd's accepted filters for secrets and configs; `name` matches a prefix, `names` the whole name. */
const PAYLOAD_FILTERS = ['id', 'label', 'name', 'names'] as const;

/** Docker's Secret or Config object. A secret's value is never in it; a config's is (Spec.Data). */
export function toDockerPayload(row: PayloadRow) {
  const spec = { Name: row.name, Labels: row.labels };
  return { ...objectMeta(row), Spec: row.kind === 'config' ? { ...spec, Data: row.data } : spec };
}

/** Standard base64, as Go encodes []byte; anything else is the client's mistake. */
function decodeData(kind: PayloadKind, data: unknown): Uint8Array {
  if (data === undefined || data === null) return new Uint8Array();
  if (typeof data !== 'string') throw invalid(`${kind} Data must be a base64 string`);
  let text: string;
  try {
    text = atob(data);
  } catch {
    throw invalid(`${kind} Data is not valid base64`);
  }
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

/** A driver given by name is something this control plane does not run: refused, not ignored. */
function refuseDriver(kind: PayloadKind, field: 'Driver' | 'Templating', driver: unknown): void {
  if (driver === undefined || driver === null) return;
  if (!isObject(driver)) throw invalid(`${kind} ${field} must be an object`);
  if (driver.Name === undefined || driver.Name === '') return;
  const what = field === 'Driver' ? `${kind} driver` : 'templating driver';
  throw invalid(`${what} ${JSON.stringify(driver.Name)} is not supported: ${kind}s are stored by the control plane and delivered as given`);
}

function labelsOf(kind: PayloadKind, labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (!isStringMap(labels)) throw invalid(`${kind} Labels must map strings to strings`);
  return labels;
}

function payloadRequest(kind: PayloadKind, body: Record<string, unknown>): PayloadRequest {
  if (typeof body.Name !== 'string' && body.Name !== undefined) throw invalid(`${kind} Name must be a string`);
  refuseDriver(kind, 'Driver', body.Driver);
  refuseDriver(kind, 'Templating', body.Templating);
  const request = { kind, name: (body.Name as string | undefined) ?? '', labels: labelsOf(kind, body.Labels), data: decodeData(kind, body.Data) };
  checkPayload(request);
  return request;
}

/** `/secrets/…` or `/configs/…`: the same five routes, as the Engine API has them for both. */
function payloadRoutes(kind: PayloadKind) {
  const base = `/${kind}s`;
  return new Hono<AppEnv>()
    .get(base, async (c) => {
      const { cluster, deps } = c.var;
      const filters = parseFilters(c.req.query('filters'), PAYLOAD_FILTERS);
      const rows = await deps.database.db.select().from(payloads).where(and(eq(payloads.clusterId, cluster.id), eq(payloads.kind, kind)));
      const result = rows.filter(
        (p) =>
          matchesAny(filters.get('id'), (v) => p.id.startsWith(v)) &&
          matchesAny(filters.get('name'), (v) => p.name.startsWith(v)) &&
          matchesAny(filters.get('names'), (v) => p.name === v) &&
          matchesLabels(filters.get('label'), p.labels),
      );
      return jsonOk(result.map(toDockerPayload));
    })
    .get(`${base}/:ref`, async (c) => {
      const { cluster, deps } = c.var;
      return jsonOk(toDockerPayload(await findPayload(deps.database.db, cluster.id, kind, c.req.param('ref'))));
    })
    .post(`${base}/create`, async (c) => {
      const { cluster, deps } = c.var;
      const request = payloadRequest(kind, await readJsonObject(c));
      const row = await writeCluster(deps, cluster.id, (tx) => createPayload(tx, deps.keyRing, cluster.id, request, deps.now()));
      return jsonOk({ Id: row.id }, 201);
    })
    .post(`${base}/:ref/update`, async (c) => {
      const { cluster, deps } = c.var;
      const version = versionParam(c, kind);
      const body = await readJsonObject(c);
      const given = body.Data !== undefined && body.Data !== null;
      const posted = { name: body.Name, data: given ? decodeData(kind, body.Data) : undefined, labels: labelsOf(kind, body.Labels) };
      await writeCluster(deps, cluster.id, async (tx) =>
        updatePayloadLabels(tx, deps.keyRing, await findPayload(tx, cluster.id, kind, c.req.param('ref')), version, posted, deps.now()),
      );
      return emptyOk();
    })
    .delete(`${base}/:ref`, async (c) => {
      const { cluster, deps } = c.var;
      await writeCluster(deps, cluster.id, async (tx) => removePayload(tx, await findPayload(tx, cluster.id, kind, c.req.param('ref')), deps.now()));
      return new Response(null, { status: 204 });
    });
}

export const secretRoutes = payloadRoutes('secret');
export const configRoutes = payloadRoutes('config');
