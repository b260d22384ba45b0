/**
 * The remote database path (issue 13): the control plane on a libSQL server over Hrana (HTTP), as a
 * user of hosted libSQL runs it, with 1 ms and 10 ms of round trip added by a proxy
 * (hrana-process.ts, delay-proxy.ts). Per round trip:
 *   `remote_db.tasks_per_s`: one service of TASKS replicas over AGENTS simulated agents, from the
 *     create request until the leader's commits have placed them all;
 *   `remote_db.api_p99_ms`: `docker service ls` (`GET /services?status=true`), one request after
 *     another from a client process of its own, for a WINDOW with the cluster idle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiLatency } from '../test/harness/noisy-tenant.ts';
import { spawnTs } from '../test/harness/process-output.ts';
import { serviceSpec } from '../test/harness/swarm-client.ts';
import { placedSoFar, sleep, startBenchCluster, until } from './measure.ts';
import { quick, recordMetric, runWhenMain } from './results.ts';

/** `--quick`: the far one only, which exercises the same path. */
const RTTS_MS = quick ? [10] : [1, 10];
const AGENTS = quick ? 10 : 100;
const TASKS = quick ? 200 : 10_000;
const WINDOW_MS = quick ? 2_000 : 15_000;
const TOKEN = 'bench-remote-db';

async function atRoundTrip(rttMs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-remote-db-'));
  const server = spawnTs('bench/hrana-process.ts', [], { HRANA_FILE: join(dir, 'remote.db'), HRANA_TOKEN: TOKEN, HRANA_RTT_MS: String(rttMs) }, 'hrana server');
  try {
    const url = (await server.waitForOutput(/url \S+/)).slice(4);
    const c = await startBenchCluster(AGENTS, {}, { LIBSQL_URL: url, LIBSQL_AUTH_TOKEN: TOKEN }, join(dir, 'data'));
    try {
      const params = { rtt_ms: rttMs, agents: AGENTS, tasks: TASKS };
      const before = placedSoFar(c.cp);
      const t0 = performance.now();
      await c.api.createService(serviceSpec('remote-big', { replicas: TASKS }));
      const placedAt = await until(() => placedSoFar(c.cp) - before >= TASKS, 600_000, 'every task to be placed', 20);
      const rate = (TASKS / (placedAt - t0)) * 1000;
      recordMetric('remote_db.tasks_per_s', rate, 'tasks/s', params);
      await sleep(2_000);
      const ls = await apiLatency({ url: c.api.url, apiKey: c.api.apiKey, caPem: c.cp.caPem }, '/services?status=true', () => sleep(WINDOW_MS));
      recordMetric('remote_db.api_p50_ms', ls.p50, 'ms', params);
      recordMetric('remote_db.api_p99_ms', ls.p99, 'ms', params);
      console.log(`  +${rttMs} ms round trip: ${TASKS} tasks placed in ${((placedAt - t0) / 1000).toFixed(1)} s (${rate.toFixed(0)}/s); service ls p50 ${ls.p50.toFixed(1)} ms, p99 ${ls.p99.toFixed(1)} ms (${ls.count} requests)`);
    } finally {
      await c.close();
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  console.log(`\n# remote-db: the control plane on libSQL over Hrana, ${TASKS} tasks on ${AGENTS} agents`);
  for (const rtt of RTTS_MS) await atRoundTrip(rtt);
}

runWhenMain(import.meta.url, run);
