/** The agent's HTTP pool (agent/http.ts) against real local servers: reuse, connect deadline, dropping every connection, streamed bodies. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionPool } from '../../agent/http.ts';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => sockets.add(s));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Answers with what it was sent, after `holdMs`; counts the connections it accepted. */
async function echoServer(holdMs = 0) {
  const stats = { connections: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method} ${req.url} ${body}`), holdMs));
  });
  server.on('connection', () => stats.connections++);
  return { url: `http://127.0.0.1:${await listen(server)}`, stats };
}

const pool = (connectTimeoutMs = 1_000) => {
  const p = new ConnectionPool({ connectTimeoutMs, idleMs: 5_000 });
  closers.push(() => p.destroy());
  return p;
};

describe('ConnectionPool', () => {
  it('keeps one connection for requests one after another, and reads each answer whole', async () => {
    const { url, stats } = await echoServer();
    const p = pool();
    for (const path of ['/a', '/b', '/c']) {
      const res = await p.request(`${url}${path}`, { method: 'POST', body: 'x'.repeat(100_000) });
      expect(res.status).toBe(200);
      expect(res.text).toBe(`POST ${path} ${'x'.repeat(100_000)}`);
    }
    expect(stats.connections).toBe(1);
  });

  it('streams a body it does not hold whole', async () => {
    const { url } = await echoServer();
    const chunks = async function* () {
      for (let i = 0; i < 5; i++) yield new TextEncoder().encode(`part${i};`);
    };
    const res = await pool().request(`${url}/stream`, { method: 'POST', body: Readable.from(chunks()) });
    expect(res.text).toBe('POST /stream part0;part1;part2;part3;part4;');
  });

  it('gives up on a connection whose TLS handshake never comes after the connect deadline', async () => {
    // Accepts TCP and says nothing: as far as the client can tell, a handshake lost on the way.
    const port = await listen(createTcpServer(() => undefined));
    const started = Date.now();
    const err = await pool(300).request(`https://127.0.0.1:${port}/`, { method: 'GET' }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(2_000);
  }, 5_000);

  it('drops every connection at once: a request waiting for its answer fails then and there', async () => {
    const { url, stats } = await echoServer(10_000);
    const p = pool();
    const started = Date.now();
    const waiting = p.request(`${url}/slow`, { method: 'GET' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    p.destroy();
    expect(await waiting).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(stats.connections).toBe(1);
  });

  it('ends a request when its signal aborts, with the signal\'s reason', async () => {
    const { url } = await echoServer(10_000);
    const deadline = AbortSignal.timeout(200);
    const err = await pool().request(`${url}/slow`, { method: 'GET', signal: deadline }).catch((e: unknown) => e);
    expect(deadline.aborted).toBe(true);
    expect((err as Error).name).toMatch(/AbortError|TimeoutError/);
  });
});
