import { isObject } from '../json-guards.ts';
import type { Context } from 'hono';
import { invalid } from '../errors.ts';

/** Parses a JSON request body, naming what is wrong with it rather than failing deep inside. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw invalid('request body is empty; expected JSON');
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
