/**
 * Where the host's DNS server sends the names it does not know: the host's own resolvers (its
 * /etc/resolv.conf, read once at start), the configured ones, or a task's own nameservers. The
 * agent runs in the host's namespace, so a resolver on the host's loopback (127.0.0.53) works too.
 */
import { createSocket } from 'node:dgram';
import { createConnection, isIP } from 'node:net';
import { readFileSync } from 'node:fs';

export interface Upstream {
  host: string;
  port: number;
}

/** How long one upstream gets to answer before the next is asked (Docker's resolver waits 4 s in all). */
const UPSTREAM_TIMEOUT_MS = 2_000;

/** `1.2.3.4`, `1.2.3.4:5353`, `fd00::1` or `[fd00::1]:5353`; undefined when it is none of them. */
export function parseUpstream(text: string): Upstream | undefined {
  const t = text.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  const [host, port] = bracketed ? [bracketed[1]!, bracketed[2]] : isIP(t) ? [t, undefined] : [t.slice(0, t.lastIndexOf(':')), t.slice(t.lastIndexOf(':') + 1)];
  const n = port === undefined ? 53 : Number(port);
  if (!isIP(host) || !Number.isInteger(n) || n < 1 || n > 65_535 || (port !== undefined && !/^\d+$/.test(port))) return undefined;
  return { host, port: n };
}

/** The `nameserver` lines of a resolv.conf; glibc's default, the host's own 127.0.0.1, when there are none. */
export function resolvConfUpstreams(text: string): Upstream[] {
  const found = text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .flatMap((addr) => (addr && parseUpstream(addr.replace(/%.*$/, '')) ? [parseUpstream(addr.replace(/%.*$/, ''))!] : []));
  return found.length ? found : [{ host: '127.0.0.1', port: 53 }];
}

/** The host's resolvers, from /etc/resolv.conf as it is now. */
export function hostUpstreams(path = '/etc/resolv.conf'): Upstream[] {
  try {
    return resolvConfUpstreams(readFileSync(path, 'utf8'));
  } catch {
    return resolvConfUpstreams('');
  }
}

/** Whether an upstream's answer is worth passing on rather than asking the next one (as Docker: not SERVFAIL or REFUSED). */
const usable = (answer: Buffer) => answer.length >= 12 && ![2, 5].includes(answer.readUInt16BE(2) & 0xf);

/** The first answer `ask` gives (undefined: none), or undefined after `timeoutMs`; `close` runs once either way. */
function firstAnswer(timeoutMs: number, close: () => void, ask: (done: (answer: Buffer | undefined) => void) => void): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    ask(done);
  });
}

function askUdp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  const socket = createSocket(isIP(upstream.host) === 6 ? 'udp6' : 'udp4');
  return firstAnswer(timeoutMs, () => socket.close(), (done) => {
    socket.on('error', () => done(undefined));
    // Only an answer with the query's ID, from the upstream's port, is taken.
    socket.on('message', (msg, from) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === query.readUInt16BE(0) && from.port === upstream.port) done(msg);
    });
    socket.send(query, upstream.port, upstream.host, (err) => err && done(undefined));
  });
}

/** DNS over TCP: the message preceded by its length, the answer likewise. */
function askTcp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  const socket = createConnection({ host: upstream.host, port: upstream.port });
  return firstAnswer(timeoutMs, () => socket.destroy(), (done) => {
    let received = Buffer.alloc(0);
    socket.on('error', () => done(undefined));
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.write(Buffer.concat([length, query]));
    });
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) done(received.subarray(2, 2 + received.readUInt16BE(0)));
    });
    socket.on('end', () => done(undefined));
  });
}

/**
 * The first usable answer from the upstreams, asked in order over the query's own transport, or
 * undefined when none gave one (the server then answers SERVFAIL).
 */
export async function forwardQuery(query: Buffer, upstreams: Upstream[], transport: 'udp' | 'tcp', timeoutMs = UPSTREAM_TIMEOUT_MS): Promise<Buffer | undefined> {
  let last: Buffer | undefined;
  for (const upstream of upstreams) {
    const answer = transport === 'udp' ? await askUdp(query, upstream, timeoutMs) : await askTcp(query, upstream, timeoutMs);
    if (answer && usable(answer)) return answer;
    last = answer ?? last;
  }
  return last;
}
