/**
 * Correctness at scale (issue 13): every task is placed and reaches its agent's long-poll, with a
 * few thousand tasks over a hundred simulated agents. The control plane is its own process; the
 * agents are real HTTP clients in this one, joining, heartbeating, long-polling and reporting their
 * tasks forward as the real agent does. The bound is generous: this is about no agent being left
 * waiting, not about speed (bench/orchestrator.ts measures that).
 *
 * It used to fail on a loaded machine: the control plane fell behind (a heartbeat cost it ~3 ms of
 * CPU, four task updates per task a delivery), heartbeats were read after the grace, beating nodes
 * were marked down and their tasks replaced elsewhere, which fed the backlog. Liveness now counts
 * only the time the leader could serve (served-clock.ts), so no node of a beating agent may go down
 * here: the test fails if one does.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { awaitDelivery, explainWaiting, nodesMarkedDown, quantile } from '../harness/delivery.ts';
import { type SimCluster, startSimCluster } from '../harness/sim-cluster.ts';
import { serviceSpec } from '../harness/swarm-client.ts';

const AGENTS = 100;
const TASKS = 2000;
/** Far above what delivery takes even on a loaded machine (a few seconds). */
const BOUND_MS = 25_000;

let cluster: SimCluster;

beforeAll(async () => {
  // TLS off: the agents' TLS is not what is tested here, and its handshakes would cost the
  // loaded machine more than everything else this test does.
  cluster = await startSimCluster({ TLS: 'off' });
  const big = { nanoCpus: 64e9, memoryBytes: 256 * 1024 ** 3 };
  // Joined a few at a time, as hosts come up.
  for (let i = 0; i < AGENTS; i += 15) {
    await Promise.all(Array.from({ length: Math.min(15, AGENTS - i) }, () => cluster.addAgent(big, { waitMs: 60_000 })));
  }
  await Promise.all(cluster.agents.map((a) => a.waitFor(() => a.index > 0, 30_000)));
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** Creates a service and waits until every agent has been answered with a task of it. */
async function deliver(spec: Record<string, unknown>): Promise<number[]> {
  const since = performance.now();
  const serviceId = await cluster.api.createService(spec);
  try {
    return await awaitDelivery(cluster.agents, serviceId, since, BOUND_MS);
  } catch (err) {
    const complaints = cluster.cp.output().split('\n').filter((l) => / (WARN|ERROR) /.test(l)).slice(-10).join('\n');
    throw new Error(`${(err as Error).message}\n${await explainWaiting(cluster.cp.dataDir, cluster.agents, serviceId, since)}\ncontrol plane:\n${complaints}`);
  }
}

test(`a service of ${TASKS} replicas reaches all ${AGENTS} agents, then one more task each on the warm cluster`, async () => {
  const big = await deliver(serviceSpec('many', { replicas: TASKS }));
  console.log(`${TASKS} tasks on ${AGENTS} agents: every agent had its tasks after ${big.at(-1)!.toFixed(0)} ms (median ${quantile(big, 0.5).toFixed(0)} ms)`);
  // One per node: a node left out of placement, or a placed task never delivered, leaves an agent waiting.
  const warm = await deliver(serviceSpec('one-each', { replicas: AGENTS, maxReplicas: 1 }));
  console.log(`warm cluster, ${AGENTS} × 1 task: every agent had it after ${warm.at(-1)!.toFixed(0)} ms (median ${quantile(warm, 0.5).toFixed(0)} ms)`);
  expect(warm).toHaveLength(AGENTS);
  // Every agent beat throughout: none of their nodes may have been marked down, even for a while.
  const downs = (await nodesMarkedDown(cluster.cp.dataDir)).map(({ node, at }) => {
    // The agent's own view: the beats it sent in the 10 s before, and the longest gap between them.
    const beats = cluster.agents.find((a) => a.nodeId === node)?.beats.filter((b) => b.sent > at - 10_000 && b.sent <= at) ?? [];
    const gaps = beats.slice(1).map((b, i) => b.sent - beats[i]!.sent);
    return { node, at, beatsSentIn10s: beats.length, longestGapMs: Math.max(0, ...gaps), slowestAnswerMs: Math.max(0, ...beats.map((b) => b.answered - b.sent)) };
  });
  expect(downs.length, `nodes marked down although their agents beat: ${JSON.stringify(downs.slice(0, 5))}`).toBe(0);
}, 90_000);
