/**
 * Prometheus' text exposition format (version 0.0.4), written by hand for both the control plane
 * and the agent. prom-client was the candidate, but its module graph loads node:cluster, v8 and
 * perf_hooks at import, which on Workers are stubs at best; what we need (counters, gauges,
 * histograms with labels, rendered with a per-caller filter) is this one small file.
 */

export type Labels = Readonly<Record<string, string>>;

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Kind = 'counter' | 'gauge' | 'histogram';

/** Which series a reader may see (a tenant's key sees only its own cluster's). */
export type SeriesFilter = (labels: Labels) => boolean;

interface Family {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  /** Lines of the series the filter lets through, without the HELP/TYPE header. */
  lines(filter: SeriesFilter): string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`invalid metric name '${name}'`);
}

const escapeLabelValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => {
      if (!LABEL.test(k)) throw new Error(`invalid label name '${k}'`);
      return `${k}="${escapeLabelValue(labels[k]!)}"`;
    })
    .join(',');
}

const sample = (name: string, key: string, value: number) => `${name}${key ? `{${key}}` : ''} ${formatValue(value)}`;

/** Counters and gauges: one number per label set. */
class Scalar implements Family {
  private readonly series = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: 'counter' | 'gauge',
  ) {
    checkName(name);
  }

  protected entry(labels: Labels) {
    const key = labelKey(labels);
    let entry = this.series.get(key);
    if (!entry) this.series.set(key, (entry = { labels: { ...labels }, value: 0 }));
    return entry;
  }

  lines(filter: SeriesFilter): string[] {
    return [...this.series].filter(([, s]) => filter(s.labels)).map(([key, s]) => sample(this.name, key, s.value));
  }
}

export class Counter extends Scalar {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot go down`);
    this.entry(labels).value += by;
  }
}

export class Gauge extends Scalar {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }
  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels).value += by;
  }
  dec(labels: Labels = {}, by = 1): void {
    this.entry(labels).value -= by;
  }
}

/** Seconds, from a millisecond database commit to a reconcile pass of a few seconds. */
export const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram implements Family {
  readonly kind = 'histogram';
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[] = DURATION_BUCKETS,
  ) {
    checkName(name);
  }

  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((le, i) => {
      if (value <= le) s.counts[i]! += 1;
    });
    s.sum += value;
    s.count += 1;
  }

  lines(filter: SeriesFilter): string[] {
    const out: string[] = [];
    for (const [key, s] of this.series) {
      if (!filter(s.labels)) continue;
      const sep = key ? `${key},` : '';
      this.buckets.forEach((le, i) => out.push(`${this.name}_bucket{${sep}le="${formatValue(le)}"} ${s.counts[i]}`));
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(sample(`${this.name}_sum`, key, s.sum), sample(`${this.name}_count`, key, s.count));
    }
    return out;
  }
}

/** A process's (or an isolate's) metrics. Families computed at scrape time are passed to render. */
export class MetricRegistry {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  private add<F extends Family>(family: F): F {
    if (this.families.has(family.name)) throw new Error(`metric ${family.name} is registered twice`);
    this.families.set(family.name, family);
    return family;
  }

  /** The exposition of this registry's series and `extra`, only those the filter lets through. */
  render(filter: SeriesFilter = () => true, extra: Family[] = []): string {
    return renderFamilies([...this.families.values(), ...extra], filter);
  }
}

/** A family with no series left after the filter is left out whole, its HELP included. */
export function renderFamilies(families: Family[], filter: SeriesFilter = () => true): string {
  const blocks: string[] = [];
  for (const f of families) {
    const lines = f.lines(filter);
    if (!lines.length) continue;
    blocks.push([`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.kind}`, ...lines].join('\n'));
  }
  return blocks.length ? `${blocks.join('\n')}\n` : '';
}

/** Seconds since `startedMs` on performance.now()'s clock, for histograms. */
export const secondsSince = (startedMs: number) => (performance.now() - startedMs) / 1000;
