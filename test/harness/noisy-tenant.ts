/**
 * Two tenants on one real control plane process: a noisy one that floods it and a quiet one whose
 * `GET /services` latency shows what the flood costs others. Shared by the fair-share test (which
 * asserts loosely) and bench/fairness.ts (which prints the figures).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { type ControlPlaneProcess, startControlPlane } from './control-plane-process.ts';
import { ROOT } from './process-output.ts';
import { nodeInfo } from './sim-agent.ts';
import { serviceSpec, SwarmClient } from './swarm-client.ts';
import { trustingAgent } from './trust.ts';

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

/**
 * The quiet tenant's `GET /services`, one after another from a process of its own
 * (quiet-client.ts), from before `load` starts until it resolves (and at least `min` of them).
 */
export function quietLatency(t: TwoTenants, load: () => Promise<unknown>, min = 20): Promise<Latencies> {
  return apiLatency({ url: t.quiet.url, apiKey: t.quiet.apiKey, caPem: t.cp.caPem }, '/services', load, min);
}

/**
 * `GET /v1.41<path>` with `apiKey`, one request after another from a process of its own
 * (quiet-client.ts), from before `load` starts until it resolves (and at least `min` of them).
 */
export async function apiLatency(target: { url: string; apiKey: string; caPem: string | undefined }, path: string, load: () => Promise<unknown>, min = 20): Promise<Latencies> {
  const client = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/harness/quiet-client.ts')], {
    cwd: ROOT,
    env: { ...process.env, QUIET_URL: target.url, QUIET_API_KEY: target.apiKey, QUIET_PATH: path, QUIET_MIN: String(min), QUIET_CA_PEM: target.caPem ?? '' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  const exited = once(client, 'exit');
  try {
    const first = await lines.next();
    if (first.value !== 'ready') throw new Error(`the API client did not start: ${String(first.value)}`);
    await load();
    client.stdin!.end();
    const samples = await lines.next();
    const [code] = await exited;
    if (code !== 0 || samples.done) throw new Error(`the API client failed (exit ${code})`);
    return latencies(JSON.parse(samples.value) as number[]);
  } finally {
    client.kill();
  }
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
  const dispatcher = trustingAgent({ connections: Math.min(count, 400) });
  const polls = Array.from({ length: count }, () =>
    request(`${t.cp.url}/agent/v1/assignments?index=${index}&wait=30s`, { headers, dispatcher }).then(
      async (res) => (await res.body.arrayBuffer(), res.statusCode),
      () => 0,
    ),
  );
  await new Promise((r) => setTimeout(r, 500));
  // On a fresh connection: one left idle while the polls were sent may have been closed by the server.
  const waker = trustingAgent({ connections: 1 });
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
  const dispatcher = trustingAgent({ connections: 50 });
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
