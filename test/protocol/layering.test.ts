import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** Every project file a source file imports, as paths from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)].map((m) => relative(root, resolve(root, file, '..', m[1]!)));
}

describe('layering', () => {
  it('agent/ imports nothing of the control plane but the protocol module', () => {
    const leaks = sources('agent').flatMap((f) => importsOf(f).filter((i) => !i.startsWith('agent/') && !i.startsWith('protocol/')).map((i) => `${f} → ${i}`));
    expect(sources('agent').length).toBeGreaterThan(10);
    expect(leaks).toEqual([]);
  });

  it('protocol/ imports nothing but itself', () => {
    const leaks = sources('protocol').flatMap((f) => importsOf(f).filter((i) => !i.startsWith('protocol/')).map((i) => `${f} → ${i}`));
    expect(leaks).toEqual([]);
  });
});
