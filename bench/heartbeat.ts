/**
 * Heartbeats and API latency under a busy fleet (issue 13): AGENTS simulated agents heartbeating
 * every 5 s (Swarm's period), SERVICES services with a task on every agent, and task-state churn
 * (agents report running tasks failed at CHURN_PER_S; the control plane replaces them and the agents
 * report the replacements running). Over a WINDOW, two clients of their own processes time
 * `docker service ls` (`GET /services?status=true`) and `docker service ps` (`GET /tasks` for one
 * service), one request after another:
 *   `heartbeat.sustained_per_s` (agent requests answered 2xx: each is a heartbeat, and an agent
 *   makes one every half period, its long-poll mostly), `api.service_ls_p99_ms`,
 *   `api.service_ps_p99_ms` (goal ≤ 50 ms).
 */
import { apiLatency, type Latencies } from '../test/harness/noisy-tenant.ts';
import { serviceSpec } from '../test/harness/swarm-client.ts';
import { placedSoFar, pool, sleep, startBenchCluster, until } from './measure.ts';
import { goal, quick, recordMetric, runWhenMain } from './results.ts';

const AGENTS = Number(process.env.BENCH_HEARTBEAT_AGENTS ?? (quick ? 100 : 5000));
const SERVICES = quick ? 10 : 1000;
const CHURN_PER_S = quick ? 5 : 20;
const WINDOW_MS = quick ? 2_000 : 30_000;
const HEARTBEAT_MS = 5_000;

const fmt = (l: Latencies) => `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(0)} ms (${l.count} requests)`;

export async function run(): Promise<void> {
  console.log(`\n# heartbeat: ${AGENTS} agents at ${HEARTBEAT_MS / 1000} s, ${SERVICES} services, ${CHURN_PER_S} task failures/s`);
  const c = await startBenchCluster(AGENTS, { heartbeatMs: HEARTBEAT_MS, churnPerSec: CHURN_PER_S });
  try {
    console.log(`  joined in ${(c.fleet.joinMs / 1000).toFixed(1)} s`);
    const replicas = Math.max(1, Math.floor(AGENTS / SERVICES));
    const before = placedSoFar(c.cp);
    // As many at once as the per-cluster concurrency limit admits (API_CONCURRENT_PER_CLUSTER, 4).
    const ids = await pool(Array.from({ length: SERVICES }, (_, i) => i), 4, (i) => c.api.createService(serviceSpec(`hb-${i}`, { replicas })));
    await until(() => placedSoFar(c.cp) - before >= SERVICES * replicas, 300_000, 'every task to be placed', 50);
    await sleep(quick ? 1_000 : 5_000); // the agents report them running

    const target = { url: c.api.url, apiKey: c.api.apiKey, caPem: c.cp.caPem };
    const psPath = `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: { [ids[0]!]: true } }))}`;
    let ps: Latencies | undefined;
    let start = await c.fleet.stats();
    let end = start;
    let seconds = 0;
    // The window starts once both clients are running (each takes seconds to start).
    const ls = await apiLatency(target, '/services?status=true', async () => {
      ps = await apiLatency(target, psPath, async () => {
        start = await c.fleet.stats();
        const t0 = performance.now();
        await sleep(WINDOW_MS);
        end = await c.fleet.stats();
        seconds = (performance.now() - t0) / 1000;
      });
    });
    const sustained = (end.heartbeats - start.heartbeats) / seconds;
    const params = { agents: AGENTS, services: SERVICES, heartbeat_s: HEARTBEAT_MS / 1000, churn_per_s: CHURN_PER_S, window_s: Math.round(seconds) };
    recordMetric('heartbeat.sustained_per_s', sustained, 'heartbeats/s', params);
    recordMetric('api.service_ls_p50_ms', ls.p50, 'ms', params);
    recordMetric('api.service_ls_p99_ms', ls.p99, 'ms', params);
    recordMetric('api.service_ps_p50_ms', ps!.p50, 'ms', params);
    recordMetric('api.service_ps_p99_ms', ps!.p99, 'ms', params);
    console.log(`  heartbeats answered: ${sustained.toFixed(0)}/s over ${seconds.toFixed(0)} s (${(2 * AGENTS) / (HEARTBEAT_MS / 1000)}/s expected: one an agent every half period); tasks failed by churn ${end.churned - start.churned}`);
    console.log(`  service ls: ${fmt(ls)} (${goal('api.service_ls_p99_ms')})`);
    console.log(`  service ps: ${fmt(ps!)}`);
    if (Object.keys(end.refusals).length) console.log(`  agents' refused or failed requests: ${JSON.stringify(end.refusals)}`);
  } finally {
    await c.close();
  }
}

runWhenMain(import.meta.url, run);
