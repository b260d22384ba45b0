/**
 * Measuring one network path the same way whatever it is: ICMP round trips with busybox ping and
 * TCP throughput with a small node sender and receiver (busybox nc gives no timing, and the test
 * image has nothing better). Each probe runs inside a network namespace, a host's or a task
 * container's, so its packets take exactly that namespace's path: its veth, its bridge, its routes
 * and, for a task on an overlay network, the WireGuard tunnel. probeIn runs bench/netns-probe.ts
 * (DNS and short TCP requests, timed in one process) the same way.
 */
import { spawn } from 'node:child_process';
import { run, sleep } from '../test/harness/hosts/command.ts';
import { spawnTs, type WatchedProcess, watchOutput } from '../test/harness/process-output.ts';

/** .ci/run installs busybox-static; the test image's busybox is a copy of it. */
const BUSYBOX = '/bin/busybox';

/** A network namespace by its file: /var/run/netns/<host> or /proc/<pid>/ns/net of a container. */
export type Netns = string;

export const hostNetns = (hostName: string): Netns => `/var/run/netns/${hostName}`;
export const processNetns = (pid: number): Netns => `/proc/${pid}/ns/net`;

export interface RoundTrips {
  count: number;
  avgMs: number;
  p50Ms: number;
  minMs: number;
  maxMs: number;
}

export interface Throughput {
  /** Median of the rounds, megabits per second (10^6 bit/s) of TCP payload. */
  mbitPerS: number;
  rounds: number[];
  mib: number;
}

export const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;

/** Pings until one answers (the first packets of a new peer wait for its handshake); bounded. */
export async function firstAnswer(from: Netns, addr: string, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if ((await run('nsenter', [`--net=${from}`, BUSYBOX, 'ping', '-c', '1', '-W', '1', addr], 10_000)).code === 0) return performance.now() - started;
    await sleep(100);
  }
  throw new Error(`no ping answer from ${addr} within ${timeoutMs} ms`);
}

/** `count` pings 200 ms apart; the round trips busybox printed for each answer. */
export async function roundTrips(from: Netns, addr: string, count = 20): Promise<RoundTrips> {
  const res = await run('nsenter', [`--net=${from}`, BUSYBOX, 'ping', '-c', String(count), '-i', '0.2', '-W', '2', addr], 30_000);
  const times = [...res.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  if (times.length < count * 0.9) throw new Error(`ping ${addr}: ${times.length} of ${count} answered\n${res.stdout}${res.stderr}`);
  const avgMs = times.reduce((s, t) => s + t, 0) / times.length;
  return { count: times.length, avgMs, p50Ms: quantile(times, 0.5), minMs: times[0]!, maxMs: times[times.length - 1]! };
}

/**
 * Accepts `rounds` connections one after another; for each prints the payload bytes and the time
 * from its first byte to its end (the sender's FIN), i.e. what arrived, timed where it arrived.
 */
const RECEIVER = `
const net = require('net');
const [port, rounds, limitMs] = process.argv.slice(1).map(Number);
let done = 0;
const server = net.createServer((s) => {
  let bytes = 0, first = 0n;
  s.on('data', (d) => { if (!first) first = process.hrtime.bigint(); bytes += d.length; });
  s.on('end', () => {
    console.log('received ' + bytes + ' in ' + Number(process.hrtime.bigint() - first) / 1e6 + ' ms');
    s.end();
    if (++done === rounds) server.close();
  });
});
server.listen(port, () => console.log('listening'));
setTimeout(() => process.exit(3), limitMs).unref();`;

/** Sends `mib` MiB of zeros per connection, `rounds` connections in turn, keeping to TCP's back-pressure. */
const SENDER = `
const net = require('net');
const [addr, port, mib, rounds, limitMs] = process.argv.slice(1);
const chunk = Buffer.alloc(64 * 1024);
const once = () => new Promise((resolve, reject) => {
  const s = net.connect(Number(port), addr, () => {
    let left = Number(mib) * 16;
    const pump = () => {
      while (left > 0) { left--; if (!s.write(chunk)) return s.once('drain', pump); }
      s.end();
    };
    pump();
  });
  s.on('error', reject);
  s.on('close', resolve);
  s.resume();
});
setTimeout(() => process.exit(3), Number(limitMs)).unref();
(async () => { for (let i = 0; i < Number(rounds); i++) await once(); })().catch((e) => { console.error(e.message); process.exit(1); });`;

function nodeIn(netns: Netns, script: string, args: (string | number)[], name: string) {
  const proc = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', script, '--', ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return watchOutput(proc, name, 10_000);
}

/** TCP from `from` to `addr` (in `to`): `rounds` transfers of `mib` MiB, timed by the receiver. */
export async function tcpThroughput(from: Netns, to: Netns, addr: string, mib = 64, rounds = 5): Promise<Throughput> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const limitMs = 60_000;
  const receiver = nodeIn(to, RECEIVER, [port, rounds, limitMs], `receiver in ${to}`);
  try {
    await receiver.waitForOutput(/listening/);
    const sender = nodeIn(from, SENDER, [addr, port, mib, rounds, limitMs], `sender in ${from}`);
    const [sent, received] = await Promise.all([sender.exited, receiver.exited]);
    if (sent.code !== 0 || received.code !== 0) throw new Error(`TCP to ${addr}:${port} failed: sender ${sender.output()} receiver ${receiver.output()}`);
    const figures = [...receiver.output().matchAll(/received (\d+) in ([\d.]+) ms/g)].map((m) => (Number(m[1]) * 8) / 1e6 / (Number(m[2]) / 1000));
    if (figures.length !== rounds) throw new Error(`TCP to ${addr}: ${figures.length} of ${rounds} transfers ended: ${receiver.output()}`);
    return { mbitPerS: quantile([...figures].sort((a, b) => a - b), 0.5), rounds: figures, mib };
  } finally {
    await receiver.stop('SIGKILL');
  }
}

/** bench/netns-probe.ts running in a network namespace (see there for its commands). */
export function probeIn(netns: Netns, args: (string | number)[]): WatchedProcess {
  return spawnTs('bench/netns-probe.ts', args.map(String), {}, `netns-probe ${args[0]} in ${netns}`, 20_000, ['nsenter', `--net=${netns}`]);
}

/** A probe run to its end: what it printed on its `result` line. */
export async function probeResult<T>(netns: Netns, args: (string | number)[], timeoutMs = 60_000): Promise<T> {
  const probe = probeIn(netns, args);
  const timer = setTimeout(() => void probe.stop('SIGKILL'), timeoutMs);
  const { code } = await probe.exited.finally(() => clearTimeout(timer));
  const line = /^result (.*)$/m.exec(probe.output());
  if (code !== 0 || !line) throw new Error(`netns-probe ${args.join(' ')} in ${netns} exited ${code}: ${probe.output()}`);
  return JSON.parse(line[1]!) as T;
}
