/**
 * What the benchmarks measured, as issue 13 names it: one object per metric (name, value, unit,
 * the parameters it was measured with, and the machine), written by `npm run bench` to
 * bench/results/latest.json and printed as a table. Benchmarks call `recordMetric`; the runner
 * writes the file once every chosen benchmark has run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';

export interface Metric {
  name: string;
  value: number;
  unit: string;
  parameters: Record<string, string | number | boolean>;
  machine: { cores: number; node: string };
}

const recorded: Metric[] = [];

/** `npm run bench -- --quick`: every benchmark sized down to a smoke run that proves it still works. */
export const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';

export function recordMetric(name: string, value: number, unit: string, parameters: Metric['parameters'] = {}): void {
  recorded.push({ name, value, unit, parameters: { ...parameters, quick }, machine: { cores: cpus().length, node: process.version } });
}

export function metrics(): readonly Metric[] {
  return recorded;
}

/** Writes the metrics recorded so far to `file` as JSON and returns them as a readable table. */
export function writeResults(file: string): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(recorded, null, 2)}\n`);
  const rows = recorded.map((m) => [m.name, Number.isInteger(m.value) ? String(m.value) : m.value.toFixed(2), m.unit, Object.entries(m.parameters).map(([k, v]) => `${k}=${v}`).join(' ')]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}`).join('\n');
}
