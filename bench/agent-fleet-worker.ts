/**
 * One worker process of an AgentFleet (agent-fleet.ts): its share of the simulated agents, driven
 * by the fleet's messages over IPC (join, run, deliveries, stats, nodeIds, stop), each answered with
 * the same id.
 */
import { awaitDelivery, explainWaiting } from '../test/harness/delivery.ts';
import { nodeInfo, SimAgent } from '../test/harness/sim-agent.ts';
import { trustInTests } from '../test/harness/trust.ts';
import type { FleetOptions, FleetStats } from './agent-fleet.ts';

const JOIN_CONCURRENCY = 20;
/** Agents whose first long-poll starts together: more SYNs at once overflow the server's listen backlog (511). */
const START_BATCH = 200;

if (process.env.FLEET_CA_PEM) trustInTests(process.env.FLEET_CA_PEM);

const stats: FleetStats = { heartbeats: 0, churned: 0, refusals: {} };

/** Requests in flight, and the slowest answered since the last trace line, by path. */
const trace = { inFlight: {} as Record<string, number>, slowestMs: {} as Record<string, number> };

/**
 * A SimAgent that counts its answered heartbeats: every request the control plane answered, since
 * each is one (a long-poll, mostly; an empty status report when no poll went out for half a period).
 */
class CountedAgent extends SimAgent {
  override async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal) {
    const kind = path.split('?')[0]!;
    trace.inFlight[kind] = (trace.inFlight[kind] ?? 0) + 1;
    const sent = Date.now();
    try {
      const reply = await super.call<T>(method, path, body, signal);
      if (reply.status >= 200 && reply.status < 300) stats.heartbeats++;
      trace.slowestMs[kind] = Math.max(trace.slowestMs[kind] ?? 0, Date.now() - sent);
      return reply;
    } finally {
      trace.inFlight[kind]!--;
    }
  }
}

const agents: CountedAgent[] = [];

// FLEET_TRACE=1: every 5 s a line on stderr of what the agents wait for (how a stuck run was found).
if (process.env.FLEET_TRACE) {
  setInterval(() => {
    const now = performance.now();
    const unanswered = agents.filter((a) => now - (a.polls.at(-1)?.at ?? now) > 30_000).length;
    console.error(`[fleet] no new answer for 30 s: ${unanswered}; in flight ${JSON.stringify(trace.inFlight)}; slowest ms ${JSON.stringify(trace.slowestMs)}; refused ${JSON.stringify(collectStats().refusals)}`);
    trace.slowestMs = {};
  }, 5000).unref();
}
let churnTimer: NodeJS.Timeout | undefined;

/** A real agent retries a join its connection failed (reset, timed out); a refusal it does not. */
async function joinRetrying(agent: SimAgent, token: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await agent.join(token);
    } catch (err) {
      if (attempt === 5) throw err;
      stats.refusals['join-retried'] = (stats.refusals['join-retried'] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

async function join(url: string, token: string, count: number, opts: FleetOptions): Promise<number> {
  const agentOpts = { autoRun: opts.autoRun ?? true, waitMs: opts.waitMs ?? 60_000, ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}) };
  let next = 0;
  await Promise.all(
    Array.from({ length: JOIN_CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        const agent = new CountedAgent(url, nodeInfo({ nanoCpus: 64e9, memoryBytes: 256 * 1024 ** 3 }), agentOpts);
        const reply = await joinRetrying(agent, token);
        if (reply.status !== 200) throw new Error(`join failed: ${reply.status} ${JSON.stringify(reply.body)}`);
        // A real agent heartbeats from its join on; one that did not would be down before the rest joined.
        agent.resumeHeartbeat();
        agents.push(agent);
      }
    }),
  );
  if (opts.churnPerSec) startChurn(opts.churnPerSec);
  return agents.length;
}

async function run(): Promise<void> {
  for (let i = 0; i < agents.length; i += START_BATCH) {
    for (const a of agents.slice(i, i + START_BATCH)) a.run();
    await new Promise((r) => setTimeout(r, 50));
  }
  const deadline = Date.now() + 300_000;
  while (agents.some((a) => a.polls.length === 0)) {
    if (Date.now() > deadline) throw new Error(`${agents.filter((a) => !a.polls.length).length} agents had no first answer in 300 s; refused or failed requests ${JSON.stringify(collectStats().refusals)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every 1/rate s one agent, picked at random, reports one of its running tasks failed (the control plane replaces it). */
function startChurn(perSec: number): void {
  const fail = () => {
    const agent = agents[Math.floor(Math.random() * agents.length)];
    const task = agent?.runningTasks.find((t) => t.state === 'running');
    if (agent && task) {
      stats.churned++;
      void agent.report([{ taskId: task.taskId, state: 'failed', message: 'churn', err: 'benchmark churn' }]).catch(() => undefined);
    }
  };
  churnTimer = setInterval(fail, 1000 / perSec);
}

function collectStats(): FleetStats {
  const refusals: Record<string, number> = { ...stats.refusals };
  for (const a of agents) for (const [k, v] of a.refusals) refusals[k] = (refusals[k] ?? 0) + v;
  return { ...stats, refusals };
}

async function deliveries(serviceId: string, sinceWallMs: number, timeoutMs: number, dataDir: string): Promise<number[]> {
  const since = sinceWallMs - performance.timeOrigin;
  try {
    return await awaitDelivery(agents, serviceId, since, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await explainWaiting(dataDir, agents, serviceId, since)}`);
  }
}

process.on('message', async (m: { id: number; type: string; [k: string]: any }) => {
  try {
    let value: unknown;
    switch (m.type) {
      case 'join': value = await join(m.url, m.token, m.count, m.opts); break;
      case 'run': value = await run(); break;
      case 'deliveries': value = await deliveries(m.serviceId, m.sinceWallMs, m.timeoutMs, m.dataDir); break;
      case 'stats': value = collectStats(); break;
      case 'nodeIds': value = agents.map((a) => a.nodeId); break;
      case 'stop':
        clearInterval(churnTimer);
        await Promise.all(agents.map((a) => a.stop()));
        process.send!({ id: m.id, ok: true, value: null }, () => process.exit(0));
        return;
      default: throw new Error(`unknown fleet message ${m.type}`);
    }
    process.send!({ id: m.id, ok: true, value: value ?? null });
  } catch (err) {
    process.send!({ id: m.id, ok: false, error: (err as Error).stack ?? String(err) });
  }
});
