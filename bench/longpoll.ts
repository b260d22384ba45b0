/**
 * Long-poll fan-out, memory and idle CPU per agent (issue 13): N simulated agents (worker
 * processes) long-poll one control plane process; then
 *   - `memory.rss_mb_per_1k_agents`: its resident memory with them all waiting, over that before
 *     they joined;
 *   - `cpu.idle_pct_per_1k_agents`: its CPU time over an idle window (long-polls waiting,
 *     heartbeats at the control plane's period), as % of one core;
 *   - `longpoll.fanout_p50_ms` / `_p99_ms`: a global service created; per agent, from the
 *     create's reply to its long-poll holding its task.
 * At 2,000 agents (goal p99 ≤ 200 ms) and 10,000 (goal p99 ≤ 1 s); `--quick`: 100.
 */
import { serviceSpec } from '../test/harness/swarm-client.ts';
import { type BenchCluster, cpuSeconds, memoryMiB, quantile, sleep, startBenchCluster, wallMs } from './measure.ts';
import { goal, quick, recordMetric, runWhenMain } from './results.ts';

const SIZES = process.env.BENCH_AGENTS ? process.env.BENCH_AGENTS.split(',').map(Number) : quick ? [100] : [2000, 10_000];
const IDLE_WINDOW_MS = quick ? 1_000 : 15_000;
const SETTLE_MS = quick ? 500 : 5_000;
/** Lets the bench read the control plane's own memory series (process-memory.ts) from /metrics. */
const METRICS_TOKEN = `bench-${Math.random().toString(36).slice(2)}`;

/** Where the control plane's resident memory is (MiB), as it measures it: the JavaScript heap, what its objects own outside it, and the rest (code and libraries, sockets, TLS, malloc). */
async function memoryBreakdown(c: BenchCluster): Promise<{ rss: number; heapUsed: number; heapTotal: number; external: number; native: number }> {
  const res = await fetch(`${c.cp.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  const mib = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]) / 1024 ** 2;
  const rss = mib('process_resident_memory_bytes');
  const heapUsed = mib('nodejs_heap_size_used_bytes');
  const heapTotal = mib('nodejs_heap_size_total_bytes');
  const external = mib('nodejs_external_memory_bytes');
  return { rss, heapUsed, heapTotal, external, native: rss - heapTotal - external };
}

/** With `c.fleet.size` agents long-polling: memory, idle CPU, and a global service's fan-out. */
async function measureAt(c: BenchCluster): Promise<void> {
  const agents = c.fleet.size;
  const pid = c.cp.proc.pid!;
  const params = { agents };
  console.log(`\n## ${agents} agents long-polling one control plane (the last joined in ${(c.fleet.joinMs / 1000).toFixed(1)} s)`);
  await sleep(SETTLE_MS);
  const rss = memoryMiB(pid);
  const memory = await memoryBreakdown(c);
  const perK = ((rss - c.rssBeforeAgentsMiB) / agents) * 1000;
  recordMetric('memory.rss_mb_per_1k_agents', perK, 'MiB', { ...params, rss_before_mb: Math.round(c.rssBeforeAgentsMiB), rss_after_mb: Math.round(rss) });
  const cpu0 = cpuSeconds(pid);
  await sleep(IDLE_WINDOW_MS);
  const idlePct = ((cpuSeconds(pid) - cpu0) / (IDLE_WINDOW_MS / 1000)) * 100;
  recordMetric('cpu.idle_pct_per_1k_agents', idlePct / (agents / 1000), '% of a core', { ...params, window_s: IDLE_WINDOW_MS / 1000, idle_pct: Number(idlePct.toFixed(1)) });

  const id = await c.api.createService(serviceSpec(`bench-global-${agents}`, { global: true }));
  const repliedAt = wallMs();
  const latencies = await c.fleet.deliveries(id, repliedAt, 180_000, c.cp.dataDir);
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  recordMetric('longpoll.fanout_p50_ms', p50, 'ms', params);
  recordMetric('longpoll.fanout_p99_ms', p99, 'ms', params);
  recordMetric('longpoll.fanout_max_ms', latencies.at(-1)!, 'ms', params);
  console.log(`  RSS ${c.rssBeforeAgentsMiB.toFixed(0)} → ${rss.toFixed(0)} MiB: ${perK.toFixed(1)} MiB per 1,000 agents (${goal('memory.rss_mb_per_1k_agents')})`);
  console.log(`  of which: JavaScript heap ${memory.heapTotal.toFixed(0)} MiB (${memory.heapUsed.toFixed(0)} in use, live and garbage), external ${memory.external.toFixed(0)}, the rest ${memory.native.toFixed(0)} (code, libraries, sockets, TLS, malloc)`);
  console.log(`  idle: ${idlePct.toFixed(1)} % of a core over ${IDLE_WINDOW_MS / 1000} s, ${(idlePct / (agents / 1000)).toFixed(2)} % per 1,000 agents`);
  console.log(`  global service: reply → every long-poll held its task: p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${latencies.at(-1)!.toFixed(0)} ms (${goal('longpoll.fanout_p99_ms')})`);
  const s = await c.fleet.stats();
  if (Object.keys(s.refusals).length) console.log(`  agents' refused or failed requests: ${JSON.stringify(s.refusals)}`);
}

export async function run(): Promise<void> {
  console.log(`\n# longpoll: fan-out, memory and idle CPU at ${SIZES.join(', ')} agents`);
  // One cluster that grows from one size to the next: joining is set-up, and slow (tens a second).
  const c = await startBenchCluster(SIZES[0]!, { waitMs: 60_000 }, { METRICS_TOKEN });
  try {
    await measureAt(c);
    for (const n of SIZES.slice(1)) {
      await c.fleet.add(n - c.fleet.size);
      await measureAt(c);
    }
  } finally {
    await c.close();
  }
}

runWhenMain(import.meta.url, run);
