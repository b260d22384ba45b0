/**
 * The quiet tenant's client as its own process (test/harness/noisy-tenant.ts starts it): lists its
 * services on one warm connection, a request every QUIET_PERIOD_MS (default 50: 20 a second, a busy
 * script's pace and well inside the per-tenant rate limit, which a loop as fast as the server
 * answers would exceed on an idle machine), until its stdin closes and it has at least QUIET_MIN
 * samples; then prints the samples (ms) as one JSON line. A process of its
 * own, as another tenant's client on another machine would be: in the process that sends the flood,
 * the flood's own TLS handshakes and 2,000 requests held the event loop for seconds, and the quiet
 * client's timings measured that rather than the control plane.
 */
import { Agent, request } from 'undici';

const url = process.env.QUIET_URL!;
const apiKey = process.env.QUIET_API_KEY!;
const min = Number(process.env.QUIET_MIN ?? 20);
const ca = process.env.QUIET_CA_PEM;
const periodMs = Number(process.env.QUIET_PERIOD_MS ?? 50);
/** What it asks for, under /v1.41 (bench/heartbeat.ts times `docker service ps`'s task query too). */
const path = process.env.QUIET_PATH ?? '/services';

const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 600_000, connect: ca ? { ca } : {} });
async function list(): Promise<void> {
  const res = await request(`${url}/v1.41${path}`, { headers: { Authorization: `Bearer ${apiKey}` }, dispatcher });
  await res.body.arrayBuffer();
  if (res.statusCode !== 200) throw new Error(`quiet GET ${path} answered ${res.statusCode}`);
}

let loadDone = false;
process.stdin.on('end', () => (loadDone = true)).resume();
await list();
console.log('ready');
const samples: number[] = [];
while (!loadDone || samples.length < min) {
  const started = performance.now();
  await list();
  const took = performance.now() - started;
  samples.push(took);
  if (took < periodMs) await new Promise((resolve) => setTimeout(resolve, periodMs - took));
}
await dispatcher.close();
console.log(JSON.stringify(samples));
