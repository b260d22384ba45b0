/**
 * Checks answers against the Engine API's response schemas (Swagger 2.0, as moby writes them).
 * Go's encoder writes nil slices, maps and pointers as null, and dockerd's own answers are full of
 * them, so null is accepted for arrays and objects; a null string, number or boolean is not.
 */
import { type EngineApi, loadEngineApi, type Schema } from './engine-api.ts';

/**
 * Values dockerd sends that the definitions' enums leave out: swarm.UpdateState has the rollback
 * states too (docker service rollback, and FailureAction rollback, report them).
 */
const UNLISTED: Record<string, string[]> = { '$.UpdateStatus.State': ['rollback_started', 'rollback_paused', 'rollback_completed'] };

export function validate(api: EngineApi, schema: Schema | undefined, value: unknown, path = '$', errors: string[] = []): string[] {
  if (!schema) return errors;
  if (schema.$ref) return validate(api, api.definitions[schema.$ref.replace('#/definitions/', '')], value, path, errors);
  for (const part of schema.allOf ?? []) validate(api, part, value, path, errors);
  if (value === null) {
    if (schema.type && schema.type !== 'object' && schema.type !== 'array' && !schema['x-nullable']) errors.push(`${path}: null where the schema says ${schema.type}`);
    return errors;
  }
  const fail = (what: string) => errors.push(`${path}: expected ${what}, got ${JSON.stringify(value)?.slice(0, 80)}`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return (fail('an object'), errors);
      const record = value as Record<string, unknown>;
      for (const [key, v] of Object.entries(record)) {
        const property = schema.properties?.[key];
        if (property) validate(api, property, v, `${path}.${key}`, errors);
        else if (typeof schema.additionalProperties === 'object') validate(api, schema.additionalProperties, v, `${path}.${key}`, errors);
      }
      return errors;
    }
    case 'array':
      if (!Array.isArray(value)) return (fail('an array'), errors);
      value.forEach((v, i) => validate(api, schema.items, v, `${path}[${i}]`, errors));
      return errors;
    case 'string':
      if (typeof value !== 'string') fail('a string');
      else if (schema.enum && !schema.enum.includes(value) && value !== '' && !UNLISTED[path.replace(/^\$\[\d+\]/, '$')]?.includes(value)) {
        fail(`one of ${schema.enum.join(', ')}`);
      }
      return errors;
    case 'integer':
      if (!Number.isInteger(value)) fail('an integer');
      return errors;
    case 'number':
      if (typeof value !== 'number') fail('a number');
      return errors;
    case 'boolean':
      if (typeof value !== 'boolean') fail('a boolean');
      return errors;
    default:
      // No type: properties alone still describe an object.
      if (schema.properties && typeof value === 'object' && !Array.isArray(value)) return validate(api, { ...schema, type: 'object' }, value, path, errors);
      return errors;
  }
}

const VERSIONED = /^\/v\d+\.\d+(\/.*)$/;

/** The response schema the definitions give for a request and status, if any. */
export function responseSchema(api: EngineApi, method: string, url: string, status: number): Schema | undefined {
  const path = new URL(url, 'http://x').pathname.replace(VERSIONED, '$1');
  for (const [template, operations] of Object.entries(api.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (!pattern.test(path)) continue;
    const operation = operations[method.toLowerCase()];
    const response = operation?.responses?.[String(status)] ?? (status >= 400 ? { schema: { $ref: '#/definitions/ErrorResponse' } } : undefined);
    if (response) return response.schema;
  }
  return undefined;
}

/** Routes whose 200 answer is a stream of frames or lines, not one JSON document. */
const STREAMS = [/\/logs$/, /\/events$/];

/** What is wrong with a Docker API answer, by the v1.41 definitions (an empty list when nothing). */
export async function contractViolations(method: string, url: string, res: Response): Promise<string[]> {
  const api = loadEngineApi('1.41');
  const path = new URL(url, 'http://x').pathname;
  if (path.startsWith('/agent/') || path.startsWith('/admin/') || path.startsWith('/swarmlet/')) return [];
  if (res.status < 400 && STREAMS.some((s) => s.test(path))) return [];
  const schema = responseSchema(api, method, url, res.status);
  if (!schema || method === 'HEAD') return [];
  const text = await res.clone().text();
  if (text === '') return res.status === 200 && (schema.type === 'object' || schema.$ref) ? [`${method} ${path}: empty body where the schema describes one`] : [];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return schema.type === 'string' ? [] : [`${method} ${path}: the body is not JSON`];
  }
  return validate(api, schema, body).map((e) => `${method} ${path} ${res.status}: ${e}`);
}
