/**
 * The Engine API's own definitions (moby's swagger files, beside the project in
 * ../shared/reference/docker-api/engine-api/), loaded for contract tests. Not copied into the
 * project: tests read them where they are.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { KeyNode, KeyTable } from '../../control-plane/swarm/spec-keys.ts';

export const ENGINE_API_DIR = resolve(import.meta.dirname, '../../../shared/reference/docker-api/engine-api');

export type Schema = {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  allOf?: Schema[];
  enum?: unknown[];
  'x-nullable'?: boolean;
  [k: string]: unknown;
};
export interface EngineApi {
  definitions: Record<string, Schema>;
  paths: Record<string, Record<string, { parameters?: Array<Record<string, unknown>>; responses?: Record<string, { schema?: Schema }> }>>;
}

const cache = new Map<string, EngineApi>();
export function loadEngineApi(version: '1.41' | '1.47'): EngineApi {
  let api = cache.get(version);
  if (!api) cache.set(version, (api = parse(readFileSync(resolve(ENGINE_API_DIR, `v${version}.yaml`), 'utf8')) as EngineApi));
  return api;
}

const refName = (ref: string) => ref.replace('#/definitions/', '');

/**
 * Where the definitions misspell a field the Go struct (and so dockerd and the CLI) writes
 * otherwise: swarm.ContainerSpec's health check is `Healthcheck` on the wire.
 */
const GO_SPELLING: Record<string, string> = { HealthCheck: 'Healthcheck' };

/** A request body defined inline in a path (swarm init's InitRequest), as a schema of its own. */
export function requestBody(api: EngineApi, path: string, method: string): Schema {
  const param = api.paths[path]?.[method]?.parameters?.find((p) => p.in === 'body');
  if (!param) throw new Error(`no body parameter for ${method.toUpperCase()} ${path}`);
  return param.schema as Schema;
}

/**
 * The JSON keys of the given definitions and everything they contain, as the Go structs behind
 * them decode them: lowercased key → [Docker's spelling, what is inside]. Free-form maps (Labels,
 * Options) have no key table: their keys are the user's.
 */
export function keyTable(api: EngineApi, roots: Record<string, Schema>): KeyTable {
  const defs: Record<string, KeyNode> = {};
  const visit = (schema: Schema | undefined): string | KeyNode | null => {
    if (!schema) return null;
    if (schema.$ref) {
      const name = refName(schema.$ref);
      if (!(name in defs)) {
        defs[name] = {};
        const node = visit(api.definitions[name]);
        if (node && typeof node === 'object') defs[name] = node;
        else delete defs[name];
      }
      return name in defs ? name : null;
    }
    if (schema.allOf) {
      const merged: KeyNode = {};
      for (const part of schema.allOf) {
        const node = visit(part);
        Object.assign(merged, typeof node === 'string' ? defs[node] : node);
      }
      return Object.keys(merged).length ? merged : null;
    }
    if (schema.items) return visit(schema.items);
    if (!schema.properties) return null;
    const node: KeyNode = {};
    for (const [key, value] of Object.entries(schema.properties)) node[key.toLowerCase()] = [GO_SPELLING[key] ?? key, visit(value)];
    return node;
  };
  const rootRefs: Record<string, string> = {};
  for (const [name, schema] of Object.entries(roots)) {
    if (schema.$ref) visit(schema);
    else {
      const node = visit(schema);
      if (node && typeof node === 'object') defs[name] = node;
    }
    rootRefs[name] = schema.$ref ? refName(schema.$ref) : name;
  }
  return { roots: rootRefs, defs };
}
