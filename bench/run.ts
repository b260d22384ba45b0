/**
 * `npm run bench [-- [--quick] name...]`: runs every benchmark in bench/ (each file exporting `run()` or `main()`), or
 * only those whose file name contains one of the given names, and writes what they recorded to
 * bench/results/latest.json (results.ts). `--quick` sizes each down to a smoke run (written to quick.json). Benchmarks are
 * not tests: they print figures and fail only when they cannot finish.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCHMARKS, measuring, quick, writeResults } from './results.ts';

/**
 * Left out of `--quick`: swarm-vs-swarmlet runs `docker swarm init` on the machine's engine (a
 * smoke run must not turn the CI machine's engine into a swarm manager), and mesh and discovery
 * need root and three netns hosts, each with its own dockerd (1–2 minutes each on their own,
 * which alone would exceed the smoke run's 2 minutes; the multi-host tests cover that path).
 */
const NOT_QUICK = new Set(['swarm-vs-swarmlet', 'mesh', 'discovery']);

async function main() {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const chosen = BENCHMARKS.filter((name) => !filters.length || filters.some((f) => name.includes(f)));
  if (!chosen.length) throw new Error(`no benchmark matches ${filters.join(', ')}; known: ${BENCHMARKS.join(', ')}`);
  const begun = performance.now();
  const failed: string[] = [];
  const ran: string[] = [];
  // A smoke run's figures say nothing of speed: they never replace the full run's.
  const file = join(import.meta.dirname, 'results', quick ? 'quick.json' : 'latest.json');
  for (const name of chosen) {
    if (quick && NOT_QUICK.has(name)) {
      console.log(`\n# ${name}: not part of --quick, skipped`);
      continue;
    }
    const started = performance.now();
    // One benchmark that throws fails the run (exit 1), but the others still run and what they
    // measured is still written.
    measuring(name);
    try {
      const mod = (await import(pathToFileURL(join(import.meta.dirname, `${name}.ts`)).href)) as { run?: () => Promise<void>; main?: () => Promise<void> };
      const entry = mod.run ?? mod.main;
      if (typeof entry !== 'function') throw new Error(`bench/${name}.ts must export run() or main()`);
      await entry();
      console.log(`# ${name} finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed.push(name);
      console.error(`# ${name} FAILED after ${((performance.now() - started) / 1000).toFixed(1)} s:`, err);
    }
    // Written after each benchmark: a long run stopped half way keeps what it measured.
    ran.push(name);
    writeResults(file, ran);
  }
  console.log(`\n# results (${file}), ${((performance.now() - begun) / 1000).toFixed(1)} s in all\n${writeResults(file, ran)}`);
  if (failed.length) throw new Error(`${failed.length} benchmark(s) failed: ${failed.join(', ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
