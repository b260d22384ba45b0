/**
 * `npm run bench [-- [--quick] name...]`: runs every benchmark in bench/ (each file exporting `run()` or `main()`), or
 * only those whose file name contains one of the given names, and writes what they recorded to
 * bench/results/latest.json (results.ts). `--quick` sizes each down to a smoke run (written to quick.json). Benchmarks are
 * not tests: they print figures and fail only when they cannot finish.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { quick, writeResults } from './results.ts';

const BENCHMARKS = ['orchestrator', 'swarm-vs-swarmlet', 'mesh', 'discovery', 'fairness', 'startup'];
/**
 * Left out of `--quick`: swarm-vs-swarmlet runs `docker swarm init` on the machine's engine, and
 * mesh and discovery need root and three netns hosts (1–2 minutes each on their own).
 */
const NOT_QUICK = new Set(['swarm-vs-swarmlet', 'mesh', 'discovery']);

async function main() {
  const filters = process.argv.slice(2).filter((a) => a !== '--quick');
  const chosen = BENCHMARKS.filter((name) => !filters.length || filters.some((f) => name.includes(f)));
  if (!chosen.length) throw new Error(`no benchmark matches ${filters.join(', ')}; known: ${BENCHMARKS.join(', ')}`);
  const begun = performance.now();
  for (const name of chosen) {
    if (quick && NOT_QUICK.has(name)) {
      console.log(`\n# ${name}: not part of --quick, skipped`);
      continue;
    }
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
  // A smoke run's figures say nothing of speed: they never replace the full run's.
  const file = join(import.meta.dirname, 'results', quick ? 'quick.json' : 'latest.json');
  console.log(`\n# results (${file}), ${((performance.now() - begun) / 1000).toFixed(1)} s in all\n${writeResults(file)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
