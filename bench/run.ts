/**
 * `npm run bench [-- name...]`: runs every benchmark in bench/ (each file exporting `run()` or `main()`), or
 * only those whose file name contains one of the given names. Benchmarks are not tests: they
 * print figures and fail only when they cannot finish.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const BENCHMARKS = ['orchestrator', 'swarm-vs-swarmlet', 'mesh', 'discovery', 'fairness', 'startup'];

async function main() {
  const filters = process.argv.slice(2);
  const chosen = BENCHMARKS.filter((name) => !filters.length || filters.some((f) => name.includes(f)));
  if (!chosen.length) throw new Error(`no benchmark matches ${filters.join(', ')}; known: ${BENCHMARKS.join(', ')}`);
  for (const name of chosen) {
    const file = join(import.meta.dirname, `${name}.ts`);
    if (!existsSync(file)) {
      console.log(`\n# ${name}: not present (bench/${name}.ts), skipped`);
      continue;
    }
    const mod = (await import(pathToFileURL(file).href)) as { run?: () => Promise<void>; main?: () => Promise<void> };
    const entry = mod.run ?? mod.main;
    if (typeof entry !== 'function') throw new Error(`bench/${name}.ts must export run() or main()`);
    const started = performance.now();
    await entry();
    console.log(`# ${name} finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
