/**
 * What the benchmarks measured, as issue 13 names it: one object per metric (name, value, unit,
 * the parameters it was measured with, and the machine), written by `npm run bench` to
 * bench/results/latest.json and printed as a table. Benchmarks call `recordMetric`; the runner
 * writes the file once every chosen benchmark has run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface Metric {
  /** The benchmark (bench/<name>.ts) that measured it. */
  benchmark: string;
  name: string;
  value: number;
  unit: string;
  parameters: Record<string, string | number | boolean>;
  machine: { cores: number; node: string };
  /** Issue 13's goal for it, where it names one. */
  goal?: string;
}

/** Issue 13's goals, by metric name (`*` matches any part of a name). */
const GOALS: Array<[RegExp, string]> = [
  [/^schedule\.tasks_per_s$/, '≥ 50,000/s'],
  [/^longpoll\.fanout_p99_ms$/, '≤ 200 ms at 2,000 agents, ≤ 1,000 ms at 10,000'],
  [/^heartbeat\.sustained_per_s$/, '5,000 agents at 5 s: 1,000/s'],
  [/^api\.service_(ls|ps)_p99_ms$/, '≤ 50 ms'],
  [/^memory\.rss_mb_per_1k_agents$/, '≤ 50 MiB'],
  [/^cpu\.idle_pct_per_1k_agents$/, 'next to nothing (≤ 1 % of a core)'],
  [/^e2e\..*_ratio_vs_swarm$/, '≤ 0.5 where the engine allows'],
  [/^e2e\..*_ratio_vs_engine$/, '≤ 1.3'],
  [/^fairness\..*_p99_ms$/, '≤ 100 ms (issue 11)'],
  [/^startup\.agent_rss_mb$/, '< 60 MiB'],
  [/^startup\.agent_joined_ms$/, '< 500 ms'],
  [/^failover\.host_loss_to_converged_s$/, '≤ 10 s (issue 9)'],
];

export function goal(name: string): string {
  return GOALS.find(([re]) => re.test(name))?.[1] ?? 'no goal set';
}

const recorded: Metric[] = [];
let current = 'unknown';

/** The runner names the benchmark whose metrics follow. */
export function measuring(benchmark: string): void {
  current = benchmark;
}

/** `npm run bench -- --quick`: every benchmark sized down to a smoke run that proves it still works. */
export const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';

export function recordMetric(name: string, value: number, unit: string, parameters: Metric['parameters'] = {}): void {
  const g = GOALS.find(([re]) => re.test(name))?.[1];
  recorded.push({ benchmark: current, name, value, unit, parameters: { ...parameters, quick }, machine: { cores: cpus().length, node: process.version }, ...(g ? { goal: g } : {}) });
}

export function metrics(): readonly Metric[] {
  return recorded;
}

/** Every benchmark in the order `npm run bench` runs them. */
export const BENCHMARKS = ['orchestrator', 'statements', 'failover', 'remote-db', 'heartbeat', 'swarm-vs-swarmlet', 'fairness', 'startup', 'longpoll', 'mesh', 'discovery'];
const BENCHMARK_ORDER = (name: string) => BENCHMARKS.indexOf(name);

/**
 * Writes the metrics recorded so far to `file` as JSON and returns them as a readable table. The
 * file keeps what it held from benchmarks not in `ran`: `npm run bench -- longpoll` refreshes
 * longpoll's figures and leaves the others'.
 */
export function writeResults(file: string, ran: readonly string[]): string {
  mkdirSync(dirname(file), { recursive: true });
  const kept = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Metric[]).filter((m) => m.benchmark && !ran.includes(m.benchmark)) : [];
  const all = [...kept, ...recorded].sort((a, b) => BENCHMARK_ORDER(a.benchmark) - BENCHMARK_ORDER(b.benchmark));
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
  const rows = all.map((m) => [m.name, Number.isInteger(m.value) ? String(m.value) : m.value.toFixed(2), m.unit, m.goal ?? '', Object.entries(m.parameters).map(([k, v]) => `${k}=${v}`).join(' ')]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]!.padEnd(widths[3]!)}  ${r[4]}`).join('\n');
}

/** Runs `run` when the benchmark's file is the command (`npx tsx bench/<name>.ts`), not imported by run.ts. */
export function runWhenMain(moduleUrl: string, run: () => Promise<void>): void {
  if (moduleUrl !== pathToFileURL(process.argv[1] ?? '').href) return;
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
