/**
 * Orchestrator benchmark: placement throughput and long-poll fan-out on a real control plane
 * process, with simulated agents (worker processes, agent-fleet.ts) joined through the real join
 * API, long-polling and reporting their tasks' states.
 *
 *   1. placement: create one service of TASKS replicas; time from the create request until the
 *      leader's commits (LOG_COMMITS) have assigned them all → `schedule.tasks_per_s`.
 *   2. fan-out: from the create's reply until every agent's long-poll has held its tasks.
 *   3. on the warm cluster: a second service of one replica per node; from the create's reply
 *      until every long-poll has held its new task.
 *
 * Full: 100,000 replicas over 1,000 nodes (issue 13's goal ≥ 50,000/s). `--scale`: 1,000,000 on
 * 10,000 nodes, with the control plane's peak RSS. BENCH_NODES / BENCH_TASKS override the sizes.
 */
import { createClient } from '@libsql/client';
import { join } from 'node:path';
import { serviceSpec } from '../test/harness/swarm-client.ts';
import { memoryMiB, placedSoFar, quantile, startBenchCluster, until, wallMs } from './measure.ts';
import { goal, quick, recordMetric, runWhenMain } from './results.ts';

const scale = process.argv.includes('--scale');
const NODES = Number(process.env.BENCH_NODES ?? (quick ? 50 : scale ? 10_000 : 1000));
const TASKS = Number(process.env.BENCH_TASKS ?? (quick ? 500 : scale ? 1_000_000 : 100_000));
const DELIVERY_TIMEOUT_MS = scale ? 600_000 : 180_000;

const ms = (x: number) => `${x.toFixed(0)} ms`;

export async function run(): Promise<void> {
  console.log(`\n# orchestrator: ${TASKS} tasks on ${NODES} simulated nodes`);
  // The agents report their tasks running, as real ones do; 100 tasks each is no work for them.
  const c = await startBenchCluster(NODES, { waitMs: 60_000 });
  try {
    const params = { nodes: NODES, tasks: TASKS };
    recordMetric('join.per_s', (NODES / c.fleet.joinMs) * 1000, 'joins/s', { nodes: NODES });
    console.log(`joined ${NODES} nodes through POST /agent/v1/join in ${ms(c.fleet.joinMs)}`);

    /** Per agent, from the create's reply to its long-poll holding a task of the service. */
    const fanOut = async (repliedAt: number, serviceId: string, metric: string) => {
      const latencies = await c.fleet.deliveries(serviceId, repliedAt, DELIVERY_TIMEOUT_MS, c.cp.dataDir);
      recordMetric(`${metric}_p50_ms`, quantile(latencies, 0.5), 'ms', params);
      recordMetric(`${metric}_p99_ms`, quantile(latencies, 0.99), 'ms', params);
      recordMetric(`${metric}_max_ms`, latencies.at(-1)!, 'ms', params);
      return `all ${ms(latencies.at(-1)!)} (median ${ms(quantile(latencies, 0.5))}, p99 ${ms(quantile(latencies, 0.99))})`;
    };

    const before = placedSoFar(c.cp);
    const t0 = performance.now();
    const bigId = await c.api.createService(serviceSpec('bench-big', { replicas: TASKS }));
    const repliedAt = wallMs();
    const createMs = performance.now() - t0;
    // The commit lines go to the log; the whole output is searched as it grows.
    const placedAt = await until(() => placedSoFar(c.cp) - before >= TASKS, DELIVERY_TIMEOUT_MS, 'all tasks to be placed', 20);
    const placeMs = placedAt - t0;
    const rate = (TASKS / placeMs) * 1000;
    recordMetric('schedule.tasks_per_s', rate, 'tasks/s', params);
    recordMetric('schedule.service_create_ms', createMs, 'ms', params);
    const bigFanOut = await fanOut(repliedAt, bigId, 'longpoll.first_service_fanout');
    const peak = memoryMiB(c.cp.proc.pid!, 'VmHWM');
    recordMetric('schedule.peak_rss_mb', peak, 'MiB', params);

    const db = createClient({ url: `file:${join(c.cp.dataDir, 'control-plane.db')}` });
    const [placed] = (await db.execute({ sql: `select count(*) as n, count(distinct node_id) as nodes from tasks where service_id = ? and node_id is not null`, args: [bigId] })).rows;
    const [spread] = (await db.execute({ sql: `select min(c) as lo, max(c) as hi from (select count(*) as c from tasks where service_id = ? group by node_id)`, args: [bigId] })).rows;
    db.close();

    // The warm cluster gets one more task per node. An agent is done when an answer holds a task
    // of the new service (a count would mislead: an answer also loses tasks).
    const oneEachId = await c.api.createService(serviceSpec('bench-one-each', { replicas: NODES, maxReplicas: 1 }));
    const warmFanOut = await fanOut(wallMs(), oneEachId, 'longpoll.warm_fanout');

    console.log('');
    console.log(`  service create, ${TASKS} tasks written:           ${ms(createMs)}`);
    console.log(`  create → all ${TASKS} tasks assigned:             ${ms(placeMs)}  => ${rate.toFixed(0)} placements/s (${goal('schedule.tasks_per_s')})`);
    console.log(`  create's reply → long-polls of all ${NODES} agents held their tasks: ${bigFanOut}`);
    console.log(`  check: ${placed!.n} tasks placed on ${placed!.nodes} nodes, ${spread!.lo}–${spread!.hi} per node`);
    console.log(`  warm cluster, ${NODES} × 1 new task (reply → long-polls held it): ${warmFanOut}`);
    console.log(`  control plane peak RSS: ${peak.toFixed(0)} MiB`);
  } finally {
    await c.close();
  }
}

runWhenMain(import.meta.url, run);
