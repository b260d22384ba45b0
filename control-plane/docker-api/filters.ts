import { invalid } from '../errors.ts';

/** Docker's `filters` query: `{"key":{"value":true}}` (or the older `{"key":["value"]}`). */
export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | undefined, allowed: readonly string[]): Filters {
  const filters: Filters = new Map();
  if (!raw) return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filters: ${raw} is not JSON`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('invalid filters: expected a JSON object');
  for (const [key, value] of Object.entries(parsed)) {
    if (!allowed.includes(key)) throw invalid(`Invalid filter '${key}'`);
    const values: unknown[] | null = Array.isArray(value) ? value : value && typeof value === 'object' ? Object.keys(value) : null;
    if (!values || !values.every((v) => typeof v === 'string')) throw invalid(`invalid filter '${key}': expected a set of strings`);
    filters.set(key, values);
  }
  return filters;
}

/** `label=k` matches any value, `label=k=v` only that value; all given labels must match. */
export function matchesLabels(wanted: string[] | undefined, labels: Record<string, string> | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return labels?.[w] !== undefined;
    return labels?.[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** Any of the given values matches (Docker ORs values within one key). */
export function matchesAny(wanted: string[] | undefined, test: (value: string) => boolean): boolean {
  return !wanted || wanted.some(test);
}
