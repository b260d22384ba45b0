import { createSocket } from 'node:dgram';
import { createConnection, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Assignment, NetworkNames, OverlayNetwork } from '../../protocol/agent-api.ts';
import { createLogger } from '../../protocol/log.ts';
import { DnsServer } from '../../agent/dns/server.ts';
import { NameTable } from '../../agent/dns/table.ts';
import { buildAnswer, type DecodedAnswer, decodeAnswer, encodeQuery, parseQuery, RCODE, TYPE_A } from '../../agent/dns/wire.ts';

/**
 * The host's DNS server on loopback: the "gateways" are 127.0.0.1 and 127.0.1.1, the "tasks" ask
 * from their own 127.x addresses (as Docker forwards from inside the container), and the host's
 * resolver is a real little DNS server on loopback too.
 */
const front: OverlayNetwork = { id: 'front', name: 'front', subnet: '127.0.0.0/24', gateway: '127.0.0.1' };
const back: OverlayNetwork = { id: 'back', name: 'back', subnet: '127.0.1.0/24', gateway: '127.0.1.1' };

const task = (id: string, networks: Array<[string, string]>, nameservers?: string[]): Assignment => ({
  taskId: id,
  serviceId: 's',
  serviceName: 's',
  slot: 1,
  desiredState: 'running',
  state: 'running',
  spec: { ContainerSpec: { Image: 'x', ...(nameservers ? { DNSConfig: { Nameservers: nameservers } } : {}) } },
  ports: [],
  networks: networks.map(([networkId, address]) => ({ networkId, address, aliases: [] })),
});

const names: NetworkNames[] = [
  { networkId: 'front', records: { api: ['10.0.1.5', '10.0.1.6'], 'tasks.api': ['10.0.1.5', '10.0.1.6'], shared: ['10.0.1.9'] }, virtualIps: [] },
  { networkId: 'back', records: { db: ['10.0.2.5'], shared: ['10.0.2.9'] }, virtualIps: [] },
];
const tasks = [task('a', [['front', '127.0.0.5/24']]), task('b', [['back', '127.0.1.5/24']]), task('c', [['back', '127.0.1.7/24'], ['front', '127.0.0.7/24']])];

/** A resolver on loopback that knows one name, over UDP and TCP: the "host's resolvers". */
async function fakeUpstream(known: Record<string, string>): Promise<{ port: number; asked: string[]; close: () => Promise<void> }> {
  const asked: string[] = [];
  const answer = (msg: Buffer) => {
    const q = parseQuery(msg);
    asked.push(q.question.name);
    const addr = known[q.question.name.toLowerCase()];
    return buildAnswer(q, addr ? { rcode: RCODE.noError, addresses: q.question.type === TYPE_A ? [addr] : [] } : { rcode: RCODE.nxDomain });
  };
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const port = udp.address().port;
  udp.on('message', (msg, from) => udp.send(answer(msg), from.port, from.address));
  const tcp: Server = createServer((conn) =>
    conn.on('data', (data) => {
      const out = answer(data.subarray(2));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(out.length);
      conn.end(Buffer.concat([len, out]));
    }),
  );
  await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', () => r()));
  return { port, asked, close: async () => void (await Promise.all([new Promise((r) => udp.close(() => r(undefined))), new Promise((r) => tcp.close(() => r(undefined)))])) };
}

/** A port free on loopback for both UDP and TCP (the server's "53"). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

let nextId = 1;
/** One UDP query from `from` to `server`: the decoded answer, or undefined after a second. */
async function ask(from: string, server: string, port: number, name: string, type = TYPE_A): Promise<DecodedAnswer | undefined> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, from, () => r()));
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 3_000);
      s.on('message', (msg) => {
        clearTimeout(timer);
        resolve(decodeAnswer(msg));
      });
      s.send(encodeQuery(nextId++, name, type), port, server);
    });
  } finally {
    s.close();
  }
}

async function askTcp(from: string, server: string, port: number, name: string): Promise<DecodedAnswer> {
  const conn = createConnection({ host: server, port, localAddress: from });
  const query = encodeQuery(nextId++, name);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(query.length);
  conn.write(Buffer.concat([len, query]));
  let got = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    conn.on('error', reject);
    conn.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        conn.end();
        resolve(decodeAnswer(got.subarray(2)));
      }
    });
  });
}

describe('the name table', () => {
  const table = NameTable.from(names, [front, back], tasks);

  it('finds names on the asker\'s networks only, case-insensitively, in the asker\'s network order', () => {
    expect(table.lookup('127.0.0.5', 'API.')).toEqual({ found: true, addresses: ['10.0.1.5', '10.0.1.6'] });
    expect(table.lookup('127.0.0.5', 'db')).toEqual({ found: false, nameservers: undefined });
    expect(table.lookup('127.0.1.5', 'api')).toEqual({ found: false, nameservers: undefined });
    // c is on back first, then front: back's `shared` wins, and front's names are found too.
    expect(table.lookup('127.0.0.7', 'shared')).toEqual({ found: true, addresses: ['10.0.2.9'] });
    expect(table.lookup('127.0.1.7', 'tasks.api')).toMatchObject({ found: true });
  });

  it('gives an address that is no task the network its address is in, and nothing elsewhere', () => {
    expect(table.lookup('127.0.1.200', 'db')).toMatchObject({ found: true });
    expect(table.lookup('127.0.1.200', 'api')).toMatchObject({ found: false });
    expect(table.lookup('192.0.2.1', 'db')).toMatchObject({ found: false });
  });

  it('passes on a task\'s own nameservers for the names it does not know', () => {
    const own = NameTable.from(names, [front], [task('d', [['front', '127.0.0.8/24']], ['192.0.2.53'])]);
    expect(own.lookup('127.0.0.8', 'example.org')).toEqual({ found: false, nameservers: ['192.0.2.53'] });
  });
});

describe('the host\'s DNS server', () => {
  const log = createLogger({ write: () => undefined });
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let ownResolver: Awaited<ReturnType<typeof fakeUpstream>>;
  let server: DnsServer;
  let port: number;

  beforeAll(async () => {
    upstream = await fakeUpstream({ 'outside.test': '192.0.2.7' });
    ownResolver = await fakeUpstream({ 'outside.test': '192.0.2.8' });
    port = await freePort();
    server = new DnsServer({ log, upstreams: [{ host: '127.0.0.1', port: upstream.port }], port });
    server.update(names, [front, back], [...tasks, task('e', [['front', '127.0.0.9/24']], [`127.0.0.1:${ownResolver.port}`])]);
    const deadline = Date.now() + 5_000;
    while (server.listening().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
    await ownResolver.close();
  });

  it('listens on every network\'s gateway', () => {
    expect(server.listening().sort()).toEqual(['127.0.0.1', '127.0.1.1']);
  });

  it('answers a swarm name over UDP and TCP, every address, with TTL 0 and authority', async () => {
    const udp = await ask('127.0.0.5', '127.0.0.1', port, 'Tasks.Api');
    expect(udp).toMatchObject({ rcode: 0, authoritative: true });
    expect(udp!.addresses.sort()).toEqual(['10.0.1.5', '10.0.1.6']);
    const tcp = await askTcp('127.0.0.5', '127.0.0.1', port, 'api');
    expect(tcp.addresses.sort()).toEqual(['10.0.1.5', '10.0.1.6']);
  });

  it('answers "no data" for another type of a swarm name, not NXDOMAIN', async () => {
    expect(await ask('127.0.0.5', '127.0.0.1', port, 'api', 28)).toMatchObject({ rcode: 0, addresses: [] });
  });

  it('does not find a name of a network the asker does not share: the host\'s resolver says NXDOMAIN', async () => {
    upstream.asked.length = 0;
    expect(await ask('127.0.1.5', '127.0.1.1', port, 'api')).toMatchObject({ rcode: RCODE.nxDomain, addresses: [] });
    expect(upstream.asked).toEqual(['api']);
    // Asking through the other network's gateway changes nothing: the asker is its source address.
    expect(await ask('127.0.1.5', '127.0.0.1', port, 'api')).toMatchObject({ rcode: RCODE.nxDomain });
  });

  it('forwards other names to the host\'s resolvers, over UDP and TCP', async () => {
    expect(await ask('127.0.0.5', '127.0.0.1', port, 'outside.test')).toMatchObject({ rcode: 0, addresses: ['192.0.2.7'] });
    expect(await askTcp('127.0.0.5', '127.0.0.1', port, 'outside.test')).toMatchObject({ rcode: 0, addresses: ['192.0.2.7'] });
  });

  it('forwards a task\'s other names to its own nameservers (DNSConfig.Nameservers), as Docker does', async () => {
    expect(await ask('127.0.0.9', '127.0.0.1', port, 'outside.test')).toMatchObject({ addresses: ['192.0.2.8'] });
    expect(await ask('127.0.0.9', '127.0.0.1', port, 'api')).toMatchObject({ rcode: 0 });
  });

  it('replaces the table whole on an update, and stops listening on a network that went', async () => {
    server.update([{ networkId: 'front', records: { api: ['10.0.1.6'] }, virtualIps: [] }], [front], tasks);
    expect(await ask('127.0.0.5', '127.0.0.1', port, 'api')).toMatchObject({ addresses: ['10.0.1.6'] });
    expect(await ask('127.0.0.5', '127.0.0.1', port, 'tasks.api')).toMatchObject({ rcode: RCODE.nxDomain });
    const deadline = Date.now() + 5_000;
    while (server.listening().length !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.listening()).toEqual(['127.0.0.1']);
  });

  it('answers SERVFAIL when no resolver answers', async () => {
    const lonely = new DnsServer({ log, upstreams: [{ host: '127.0.0.1', port: await freePort() }], port: await freePort() });
    try {
      const msg = encodeQuery(42, 'outside.test');
      const answer = await lonely.answer(msg, '127.0.0.5', 'udp');
      expect(decodeAnswer(answer!)).toMatchObject({ id: 42, rcode: RCODE.servFail });
    } finally {
      await lonely.close();
    }
  });

  it('waits for a gateway that is not on any interface yet, without failing', async () => {
    const early = new DnsServer({ log, upstreams: [], port: await freePort() });
    try {
      early.update([], [{ id: 'x', name: 'x', subnet: '192.0.2.0/24', gateway: '192.0.2.1' }], []);
      await new Promise((r) => setTimeout(r, 200));
      expect(early.listening()).toEqual([]);
    } finally {
      await early.close();
    }
  });
});
