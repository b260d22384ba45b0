/**
 * Orchestrator benchmark: placement throughput and long-poll fan-out on a real control plane
 * process, with 1,000 simulated agents joined through the real join API and long-polling.
 *
 *   1. placement: create one service of 10,000 replicas; time from the create request until the
 *      leader's commits (LOG_COMMITS) have assigned all 10,000 tasks → placements per second.
 *   2. fan-out: the time from that create until every agent's long-poll has returned with its tasks.
 *   3. fan-out on a warm cluster: a second service of 1,000 replicas (one per node); the time from
 *      the create until every one of the 1,000 long-polls has returned with its new task.
 *
 * Sizes can be changed with BENCH_NODES and BENCH_TASKS. Agents do not report task states, so the
 * figures are about the control plane's decisions and their delivery, not simulated containers.
 */
import { createClient } from '@libsql/client';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startControlPlane } from '../test/harness/control-plane-process.ts';
import { nodeInfo, SimAgent } from '../test/harness/sim-agent.ts';
import { awaitDelivery, explainWaiting, quantile } from '../test/harness/delivery.ts';
import { quick, recordMetric } from './results.ts';
import { serviceSpec, SwarmClient } from '../test/harness/swarm-client.ts';

const NODES = Number(process.env.BENCH_NODES ?? (quick ? 50 : 1000));
const TASKS = Number(process.env.BENCH_TASKS ?? (quick ? 500 : 10_000));

const ms = (x: number) => `${x.toFixed(0)} ms`;

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Resolves when `check` holds, polling every few ms; rejects after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return performance.now();
}

export async function run(): Promise<void> {
  console.log(`\n# orchestrator: ${TASKS} tasks on ${NODES} simulated nodes`);
  const cp = await startControlPlane({ env: { LOG_COMMITS: '1', INSTANCE_ID: 'cp-bench', LONG_POLL_MAX_WAIT_MS: '120000', ...(process.env.BENCH_TLS === 'off' ? { TLS: 'off' } : {}) } });
  const agents: SimAgent[] = [];
  try {
    const api = SwarmClient.forProcess(cp);
    await api.init();
    const token = await api.workerToken();

    const joinStart = performance.now();
    const infos = Array.from({ length: NODES }, () => nodeInfo({ nanoCpus: 64e9, memoryBytes: 256 * 1024 ** 3 }));
    agents.push(...(await pool(infos, 25, async (info) => {
      const agent = new SimAgent(cp.url, info, { autoRun: false, waitMs: 60_000 });
      const reply = await agent.join(token);
      if (reply.status !== 200) throw new Error(`join failed: ${JSON.stringify(reply.body)}`);
      // A real agent heartbeats from its join on; one that did not would be down before the rest joined.
      agent.resumeHeartbeat();
      return agent;
    })));
    const joinMs = performance.now() - joinStart;
    recordMetric('join.per_s', (NODES / joinMs) * 1000, 'joins/s', { nodes: NODES, concurrency: 25 });
    console.log(`joined ${NODES} nodes through POST /agent/v1/join in ${ms(joinMs)} (${((NODES / joinMs) * 1000).toFixed(0)} joins/s)`);

    for (const a of agents) a.run();
    await until(() => agents.every((a) => a.polls.length > 0), 60_000, 'every agent to be long-polling');
    await new Promise((r) => setTimeout(r, 500)); // let the first polls settle into waiting

    /** Waits until every agent's long-poll has held a task of the service; the latencies from `t`. */
    const fanOut = async (t: number, serviceId: string, metric: string) => {
      let latencies: number[];
      try {
        latencies = await awaitDelivery(agents, serviceId, t, 120_000);
      } catch (err) {
        console.error(await explainWaiting(cp.dataDir, agents, serviceId, t));
        throw err;
      }
      const params = { agents: NODES, tasks: TASKS };
      recordMetric(`${metric}_p50_ms`, quantile(latencies, 0.5), 'ms', params);
      recordMetric(`${metric}_p99_ms`, quantile(latencies, 0.99), 'ms', params);
      recordMetric(`${metric}_max_ms`, latencies.at(-1)!, 'ms', params);
      return `all ${ms(latencies.at(-1)!)} (median ${ms(quantile(latencies, 0.5))}, p99 ${ms(quantile(latencies, 0.99))})`;
    };

    // 1 + 2: one service of TASKS replicas.
    const placedSoFar = () => [...cp.output().matchAll(/commit cluster=\S+ index=\d+ epoch=\d+ placed=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    const before = placedSoFar();
    const t0 = performance.now();
    const bigId = await api.createService(serviceSpec('bench-big', { replicas: TASKS }));
    const createMs = performance.now() - t0;
    // The commit lines go to the log (stderr); the whole output is searched as it grows.
    const placedAt = await until(() => placedSoFar() - before >= TASKS, 120_000, 'all tasks to be placed');
    const placeMs = placedAt - t0;
    recordMetric('schedule.tasks_per_s', (TASKS / placeMs) * 1000, 'tasks/s', { nodes: NODES, tasks: TASKS });
    recordMetric('schedule.service_create_ms', createMs, 'ms', { nodes: NODES, tasks: TASKS });
    const bigFanOut = await fanOut(t0, bigId, 'longpoll.first_service_fanout');

    const db = createClient({ url: `file:${join(cp.dataDir, 'control-plane.db')}` });
    const [placed] = (await db.execute({ sql: `select count(*) as n, count(distinct node_id) as nodes from tasks where service_id = ? and state = 'assigned'`, args: [bigId] })).rows;
    const [spread] = (await db.execute({ sql: `select min(c) as lo, max(c) as hi from (select count(*) as c from tasks where service_id = ? group by node_id)`, args: [bigId] })).rows;
    db.close();

    // 3: the warm cluster gets one more task per node.
    // An agent is done when an answer holds a task of the new service (a count would mislead: a
    // node's answer also loses tasks, say those replaced elsewhere while it was down).
    const t1 = performance.now();
    const oneEachId = await api.createService(serviceSpec('bench-one-each', { replicas: NODES, maxReplicas: 1 }));
    const warmFanOut = await fanOut(t1, oneEachId, 'longpoll.fanout');

    console.log('');
    console.log(`  service create, ${TASKS} tasks written:           ${ms(createMs)}`);
    console.log(`  create → all ${TASKS} tasks assigned:             ${ms(placeMs)}  => ${((TASKS / placeMs) * 1000).toFixed(0)} placements/s`);
    console.log(`  create → long-polls of all ${NODES} agents returned: ${bigFanOut}`);
    console.log(`  check: ${placed!.n} tasks assigned on ${placed!.nodes} nodes, ${spread!.lo}–${spread!.hi} per node`);
    console.log(`  warm cluster, ${NODES} × 1 new task (create → long-polls returned): ${warmFanOut}`);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await cp.stop();
    rmSync(cp.dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
