import { describe, expect, it } from 'vitest';
import { type Shape, STORED_SERVICE_SPEC } from '../../control-plane/swarm/spec-schema.ts';
import { type EngineApi, loadEngineApi, type Schema } from './engine-api.ts';

/** The definitions' `HealthCheck` is `Healthcheck` on the wire (swarm.ContainerSpec's JSON tag). */
const GO_SPELLING: Record<string, string> = { HealthCheck: 'Healthcheck' };

/**
 * Every field of the definitions, walked beside the schema validation and the views use: the
 * places where the schema has no shape for a field, or one of another JSON type, or other enum
 * values. Empty means every field a client can post is checked as Docker types it.
 */
function differences(api: EngineApi, def: Schema, shape: Shape | undefined, path: string, out: string[], exactEnums: boolean): string[] {
  if (def.$ref) return differences(api, api.definitions[def.$ref.replace('#/definitions/', '')]!, shape, path, out, exactEnums);
  if (def.allOf) return differences(api, Object.assign({}, ...def.allOf.map((d) => (d.$ref ? api.definitions[d.$ref.replace('#/definitions/', '')] : d))), shape, path, out, exactEnums);
  if (shape === undefined) {
    out.push(`${path}: no shape for a ${def.type ?? 'value'}`);
    return out;
  }
  const kind = typeof shape === 'string' ? shape : Object.keys(shape)[0];
  const expected: Record<string, string[]> = {
    string: ['string', 'enum'],
    boolean: ['boolean'],
    integer: ['int', 'uint', 'uint32'],
    number: ['number'],
    array: ['items'],
    object: def.additionalProperties ? ['values'] : ['fields'],
  };
  if (!expected[def.type ?? '']?.includes(kind!)) {
    out.push(`${path}: definitions say ${def.type}, schema says ${kind}`);
    return out;
  }
  if (def.enum && typeof shape === 'object' && 'enum' in shape) {
    // Older definitions may allow fewer values (v1.41 has no `cluster` mounts); none may allow more.
    const want = def.enum.filter(Boolean).map(String).sort();
    const have = shape.enum.filter(Boolean).sort();
    const wrong = exactEnums ? JSON.stringify(want) !== JSON.stringify(have) : want.some((v) => !have.includes(v));
    if (wrong) out.push(`${path}: definitions allow ${want.join(',')}, schema ${have.join(',')}`);
  }
  if (typeof shape !== 'object') return out;
  if ('items' in shape) return differences(api, def.items ?? {}, shape.items, `${path}[]`, out, exactEnums);
  if ('values' in shape && typeof def.additionalProperties === 'object') return differences(api, def.additionalProperties, shape.values, `${path}{}`, out, exactEnums);
  if ('fields' in shape) {
    for (const [key, field] of Object.entries(def.properties ?? {})) {
      const name = GO_SPELLING[key] ?? key;
      differences(api, field, shape.fields[name], `${path}.${name}`, out, exactEnums);
    }
  }
  return out;
}

describe('the spec schema', () => {
  for (const version of ['1.41', '1.47'] as const) {
    it(`has a shape of Docker's type for every ServiceSpec field of the v${version} definitions`, () => {
      const api = loadEngineApi(version);
      const exactEnums = version === '1.47'; // the newest, whose values the schema takes exactly
      expect(differences(api, { $ref: '#/definitions/ServiceSpec' }, STORED_SERVICE_SPEC, 'ServiceSpec', [], exactEnums)).toEqual([]);
    });
  }
});
