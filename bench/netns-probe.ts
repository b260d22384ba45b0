/**
 * Probes run as one process inside a network namespace (a task container's, entered from the host
 * with nsenter), so what they time is the namespace's path and not a `docker exec` per request.
 * The test image's busybox has nslookup and nc, but neither times anything nor repeats in one
 * process. Each prints its figures as one `result {json}` line; the watcher prints a line per change.
 *
 *   dns-latency '{"rounds":200,"queries":[{"server":"127.0.0.11","name":"tasks.api"}]}'
 *   dns-watch <server> <name> <intervalMs>      `answer <epoch ms> <addresses,…>` on every change
 *   tcp-serve <port> <id>                       answers each connection with <id> and closes it
 *   tcp-connect <port> <count> <addr>...        sequential connections, round robin over the addresses
 *   tcp-rate <port> <durationMs> <concurrency> <addr>...
 *   tcp-loop <port> <concurrency> <stopFile> <addr>...   tcp-rate until <stopFile> exists, each failure timed
 */
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { decodeAnswer, encodeQuery, RCODE } from '../agent/dns/wire.ts';

const QUERY_TIMEOUT_MS = 2_000;
const CONNECT_TIMEOUT_MS = 3_000;
/**
 * A request in a loop that counts drops gives up only after this: a connection that took longer
 * than the probes' usual 3 s (a SYN lost twice on a loaded machine) was slow, not dropped.
 */
const LOOP_TIMEOUT_MS = 10_000;
/** Wall-clock milliseconds with a fraction: comparable with the benchmark process's own. */
const wallMs = () => performance.timeOrigin + performance.now();

export interface DnsQuery {
  server: string;
  port?: number;
  name: string;
}

export interface DnsTimes {
  /** Milliseconds per answered query, in the order asked. */
  times: number[];
  lost: number;
  rcode: number;
  addresses: string[];
}

export interface TcpSample {
  ms: number;
  /** What the server answered (its id); '' when the connection failed. */
  who: string;
  addr: string;
  /** Why it failed: the socket error's code, or 'empty' for a connection closed without an answer. */
  error?: string;
  /** When it started (wall ms), for a failure. */
  at?: number;
}

const result = (value: unknown) => console.log(`result ${JSON.stringify(value)}`);

/** One UDP socket for all queries; one query in flight at a time, so each is timed alone. */
function dnsAsker() {
  const socket = createSocket('udp4');
  let pending: { id: number; resolve: (msg: Buffer | undefined) => void } | undefined;
  socket.on('message', (msg) => {
    if (pending && msg.length >= 2 && msg.readUInt16BE(0) === pending.id) pending.resolve(msg);
  });
  let nextId = Math.floor(Math.random() * 0xffff);
  const ask = (q: DnsQuery) =>
    new Promise<{ ms: number; answer: ReturnType<typeof decodeAnswer> | undefined }>((resolve) => {
      const id = (nextId = (nextId + 1) & 0xffff);
      const started = performance.now();
      const timer = setTimeout(() => done(undefined), QUERY_TIMEOUT_MS);
      const done = (msg: Buffer | undefined) => {
        clearTimeout(timer);
        pending = undefined;
        resolve({ ms: performance.now() - started, answer: msg && decodeAnswer(msg) });
      };
      pending = { id, resolve: done };
      socket.send(encodeQuery(id, q.name), q.port ?? 53, q.server);
    });
  return { ask, close: () => socket.close() };
}

/** Each round asks every query once, in turn, so all see the same moments of a busy machine. */
async function dnsLatency(spec: { rounds: number; warmup?: number; queries: DnsQuery[] }): Promise<void> {
  const { ask, close } = dnsAsker();
  const out: DnsTimes[] = spec.queries.map(() => ({ times: [], lost: 0, rcode: -1, addresses: [] }));
  for (let round = -(spec.warmup ?? 5); round < spec.rounds; round++) {
    for (const [i, q] of spec.queries.entries()) {
      const { ms, answer } = await ask(q);
      if (round < 0) continue;
      if (!answer) out[i]!.lost++;
      else {
        out[i]!.times.push(ms);
        out[i]!.rcode = answer.rcode;
        out[i]!.addresses = answer.addresses.sort();
      }
    }
  }
  close();
  result(out);
}

/** Asks every `intervalMs` and prints the answer (sorted addresses) whenever it differs from the last. */
async function dnsWatch(server: string, name: string, intervalMs: number): Promise<void> {
  const { ask } = dnsAsker();
  let last: string | undefined;
  for (;;) {
    const started = performance.now();
    const { answer } = await ask({ server, name });
    if (answer) {
      const now = answer.rcode === RCODE.noError ? answer.addresses.sort().join(',') : `rcode ${answer.rcode}`;
      if (now !== last) console.log(`answer ${wallMs().toFixed(1)} ${now}`);
      last = now;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (performance.now() - started))));
  }
}

function tcpServe(port: number, id: string): void {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.end(`${id}\n`);
  });
  server.listen(port, () => console.log('listening'));
}

/** One connection: connect, read the server's answer to its end; the time from connect() to that end. */
function request(addr: string, port: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<TcpSample> {
  return new Promise((resolve) => {
    const started = performance.now();
    const at = wallMs();
    let who = '';
    const s = connect({ host: addr, port, timeout: timeoutMs });
    s.setEncoding('utf8');
    s.on('data', (d) => (who += d));
    s.on('timeout', () => s.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ ms: performance.now() - started, who: '', addr, error: err.code ?? err.message, at }));
    s.on('end', () => {
      s.end();
      const answer = who.trim();
      resolve({ ms: performance.now() - started, who: answer, addr, ...(answer ? {} : { error: 'empty', at }) });
    });
  });
}

async function tcpConnect(port: number, count: number, addrs: string[]): Promise<void> {
  const samples: TcpSample[] = [];
  for (let i = 0; i < count; i++) samples.push(await request(addrs[i % addrs.length]!, port));
  result(samples);
}

/** `concurrency` loops of sequential connections for `durationMs`: completed requests per second. */
async function tcpRate(port: number, durationMs: number, concurrency: number, addrs: string[]): Promise<void> {
  let done = 0;
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const loop = async () => {
    while (performance.now() - started < durationMs) {
      const sample = await request(addrs[next++ % addrs.length]!, port);
      if (sample.who) done++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  result({ done, failed, ms: performance.now() - started });
}

/** `concurrency` loops of sequential connections until `stopFile` exists: how many answered, and every failure. */
async function tcpLoop(port: number, concurrency: number, stopFile: string, addrs: string[]): Promise<void> {
  let done = 0;
  let next = 0;
  let slowest = 0;
  const failures: TcpSample[] = [];
  const started = performance.now();
  let stopped = false;
  const watch = setInterval(() => (stopped = existsSync(stopFile)), 50);
  const loop = async () => {
    while (!stopped) {
      const sample = await request(addrs[next++ % addrs.length]!, port, LOOP_TIMEOUT_MS);
      if (!sample.who) failures.push(sample);
      else {
        done++;
        slowest = Math.max(slowest, sample.ms);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  clearInterval(watch);
  result({ done, failures, slowest, ms: performance.now() - started });
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const n = (i: number) => Number(args[i]);
  switch (command) {
    case 'dns-latency':
      return dnsLatency(JSON.parse(args[0]!));
    case 'dns-watch':
      return dnsWatch(args[0]!, args[1]!, n(2));
    case 'tcp-serve':
      return tcpServe(n(0), args[1]!);
    case 'tcp-connect':
      return tcpConnect(n(0), n(1), args.slice(2));
    case 'tcp-rate':
      return tcpRate(n(0), n(1), n(2), args.slice(3));
    case 'tcp-loop':
      return tcpLoop(n(0), n(1), args[2]!, args.slice(3));
    default:
      throw new Error(`unknown probe ${command}; see bench/netns-probe.ts`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
