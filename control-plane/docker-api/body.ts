import { isObject } from '../json-guards.ts';
import type { Context } from 'hono';
import type { AppDeps } from '../deps.ts';
import { invalid } from '../errors.ts';

/** Used where no config is at hand; the config's JSON_MAX_DEPTH says otherwise. */
const DEFAULT_MAX_DEPTH = 64;

/**
 * Whether a JSON text nests arrays and objects deeper than `max`, found by scanning it rather than
 * parsing it: every walk of a decoded spec (key spelling, hashing, storing) is recursive, and a
 * spec 5,000 levels deep overflowed the stack, answering 500.
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character, a quote included
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Parses a JSON request body, naming what is wrong with it rather than failing deep inside. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw invalid('request body is empty; expected JSON');
  // Every app sets deps first (app.ts); the agent and admin APIs read bodies here too.
  const maxDepth = (c.get('deps') as AppDeps | undefined)?.config.jsonMaxDepth ?? DEFAULT_MAX_DEPTH;
  if (nestedDeeperThan(text, maxDepth)) throw invalid(`request body is nested too deeply: the limit is ${maxDepth} levels of arrays and objects`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(`invalid JSON body: ${(err as Error).message}`);
  }
}

export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const body = await readJson(c);
  if (!isObject(body)) throw invalid('request body must be a JSON object');
  return body;
}

/** `?version=N` of Docker's optimistic concurrency; required on every update. */
export function versionParam(c: Context, kind: string): number {
  const raw = c.req.query('version') ?? '';
  if (!/^\d+$/.test(raw)) throw invalid(`invalid ${kind} version '${raw}': expected the Version.Index read from GET`);
  return Number(raw);
}

/** An empty 200, as dockerd answers node and swarm updates. */
export const emptyOk = () => new Response(null, { status: 200 });

/** JSON success bodies; the content type of successes is not checked by the CLI. */
export const jsonOk = (value: unknown, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json' } });
