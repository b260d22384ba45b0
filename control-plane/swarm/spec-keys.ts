/**
 * Go's JSON decoder, which dockerd uses, matches object keys to struct fields case-insensitively:
 * `{"mode": {"replicated": {"replicas": 2}}}` is a replicated service with 2 replicas. Specs are
 * stored as posted, so keys are put into Docker's spelling at the edge, with the key table derived
 * from the Engine API definitions (spec-keys-table.ts; test/contract/spec-keys.test.ts keeps it equal
 * to what the definitions say). Keys no Docker struct has are kept as they came.
 */
import { SPEC_KEYS as KEYS } from './spec-keys-table.ts';

/** Lowercased key → [Docker's spelling, the key table of its value (a definition's name, inline, or none)]. */
export interface KeyNode {
  [lower: string]: [canonical: string, child: string | KeyNode | null];
}
export interface KeyTable {
  roots: Record<string, string>;
  defs: Record<string, KeyNode>;
}

function canonical(value: unknown, node: string | KeyNode | null): unknown {
  const keys = typeof node === 'string' ? KEYS.defs[node] : node;
  if (!keys) return value;
  if (Array.isArray(value)) return value.map((v) => canonical(v, keys));
  if (!value || typeof value !== 'object') return value;
  return canonicalObject(value, keys);
}

function canonicalObject(value: object, keys: KeyNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const known = keys[key.toLowerCase()];
    // Two spellings of one field: the later key wins, as Go's decoder fills the field twice.
    if (known) out[known[0]] = canonical(v, known[1]);
    else out[key] = v;
  }
  return out;
}

/** A posted ServiceSpec, SwarmSpec, InitRequest or NodeSpec with its keys spelled as Docker spells them. */
export function withDockerKeys(root: 'ServiceSpec' | 'SwarmSpec' | 'SwarmInitRequest' | 'NodeSpec' | 'NetworkCreateRequest', value: Record<string, unknown>): Record<string, unknown> {
  const keys = KEYS.defs[KEYS.roots[root] ?? ''];
  return keys ? canonicalObject(value, keys) : value;
}
