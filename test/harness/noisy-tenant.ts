/**
 * Two tenants on one real control plane process: a noisy one that floods it and a quiet one whose
 * `GET /services` latency shows what the flood costs others. Shared by the fair-share test (which
 * asserts loosely) and bench/fairness.ts (which prints the figures).
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { type ControlPlaneProcess, startControlPlane } from './control-plane-process.ts';
import { nodeInfo } from './sim-agent.ts';
import { serviceSpec, SwarmClient } from './swarm-client.ts';

const ADMIN_TOKEN = 'admin-token-for-noisy-tenant';

export interface TwoTenants {
  cp: ControlPlaneProcess;
  noisy: SwarmClient;
  quiet: SwarmClient;
  close(): Promise<void>;
}

export async function startTwoTenants(env: Record<string, string> = {}): Promise<TwoTenants> {
  const cp = await startControlPlane({ env: { INSTANCE_ID: 'cp-fair', ADMIN_TOKEN, ...env } });
  try {
    const noisy = SwarmClient.forProcess(cp);
    await noisy.init();
    const res = await fetch(`${cp.url}/admin/v1/clusters`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ tenant: 'quiet', name: 'quiet' }),
    });
    if (res.status !== 201) throw new Error(`creating the quiet tenant: ${res.status} ${await res.text()}`);
    const quiet = new SwarmClient(cp.url, ((await res.json()) as { apiKey: string }).apiKey);
    // Something to list: the quiet tenant's answer is not empty.
    for (let i = 0; i < 10; i++) await quiet.createService(serviceSpec(`quiet-${i}`, { replicas: 1 }));
    return { cp, noisy, quiet, close: () => cp.stop() };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

export interface Latencies {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

function latencies(samples: number[]): Latencies {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}

/** The quiet tenant's `GET /services`, one after another, until `done` resolves (and at least `min` of them). */
export async function quietLatency(quiet: SwarmClient, load: () => Promise<unknown>, min = 20): Promise<Latencies> {
  // Its own warm connection, as another tenant's client on another machine would have: the noisy
  // tenant's connections, and the listen backlog they fill, are not the quiet one's.
  const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 600_000 });
  const list = async () => {
    const res = await request(`${quiet.url}/v1.41/services`, { headers: { Authorization: `Bearer ${quiet.apiKey}` }, dispatcher });
    await res.body.arrayBuffer();
    if (res.statusCode !== 200) throw new Error(`quiet GET /services answered ${res.statusCode}`);
  };
  await list();
  let finished = false;
  const done = load();
  void done.finally(() => (finished = true));
  const samples: number[] = [];
  try {
    while (!finished || samples.length < min) {
      const started = performance.now();
      await list();
      samples.push(performance.now() - started);
    }
  } finally {
    await dispatcher.close();
  }
  return latencies(samples);
}

export interface FloodResult {
  answered: Record<number, number>;
  ms: number;
}

const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

/**
 * `count` long-polls from ONE node credential, sent at once, then woken together by a change that
 * concerns the node (a global service of the noisy tenant); resolves when every poll has answered.
 */
export async function longPollFlood(t: TwoTenants, count: number): Promise<FloodResult> {
  const token = await t.noisy.workerToken();
  const joined = await fetch(`${t.cp.url}/agent/v1/join`, { method: 'POST', body: JSON.stringify({ token, node: nodeInfo() }) });
  const { credential } = (await joined.json()) as { credential: string };
  const headers = { Authorization: `Bearer ${credential}` };
  const { index } = (await (await fetch(`${t.cp.url}/agent/v1/assignments?index=0`, { headers })).json()) as { index: number };
  const started = performance.now();
  // Their own connections, fewer than the server's listen backlog (511): more SYNs at once are
  // dropped by the kernel, which measures TCP's retransmit timer, not the control plane.
  const dispatcher = new Agent({ connections: Math.min(count, 400) });
  const polls = Array.from({ length: count }, () =>
    request(`${t.cp.url}/agent/v1/assignments?index=${index}&wait=30s`, { headers, dispatcher }).then(
      async (res) => (await res.body.arrayBuffer(), res.statusCode),
      () => 0,
    ),
  );
  await new Promise((r) => setTimeout(r, 500));
  // On a fresh connection: one left idle while the polls were sent may have been closed by the server.
  const waker = new Agent({ connections: 1 });
  const wake = await request(`${t.cp.url}/v1.41/services/create`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${t.noisy.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(serviceSpec(`wake-${index}`, { global: true })),
    dispatcher: waker,
  });
  await wake.body.arrayBuffer();
  await waker.close();
  if (wake.statusCode !== 201) throw new Error(`the wake-up service was answered ${wake.statusCode}`);
  const statuses = await Promise.all(polls);
  await dispatcher.close();
  return { answered: tally(statuses), ms: performance.now() - started };
}

/** `count` services created by the noisy tenant, 50 requests in flight at a time. */
export async function serviceBurst(t: TwoTenants, count: number): Promise<FloodResult> {
  const started = performance.now();
  const statuses: number[] = [];
  const dispatcher = new Agent({ connections: 50 });
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < count) {
        const i = next++;
        const res = await request(`${t.cp.url}/v1.41/services/create`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${t.noisy.apiKey}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(serviceSpec(`burst-${i}`, { replicas: 1 })),
          dispatcher,
        });
        await res.body.arrayBuffer();
        statuses.push(res.statusCode);
      }
    }),
  );
  await dispatcher.close();
  return { answered: tally(statuses), ms: performance.now() - started };
}

/** The control plane process's resident memory, in MiB. */
export function residentMiB(cp: ControlPlaneProcess): number {
  const status = readFileSync(`/proc/${cp.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}
