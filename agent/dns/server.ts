/**
 * The host's DNS server for its tasks: service discovery across hosts.
 *
 *   container ─ 127.0.0.11 (Docker's resolver: container names it runs here) ─ forwards the rest to
 *   gateway:53 of its first network (HostConfig.Dns) ─ this server, in the host's namespace:
 *     swarm names on the asker's networks ── from the table (the last assignments answer)
 *     anything else ──────────────────────── the host's resolvers (or the task's own nameservers)
 *
 * It listens on port 53 of each overlay network's gateway address, which every host has on its own
 * bridge, over UDP and TCP. The asker is the query's source address: Docker forwards from inside
 * the container, so that is the task's address on the network it asked through.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import type { Assignment, NetworkNames, OverlayNetwork } from '../../protocol/agent-api.ts';
import type { Logger } from '../../protocol/log.ts';
import { NameTable } from './table.ts';
import { forwardQuery, parseUpstream, type Upstream } from './upstream.ts';
import { buildAnswer, CLASS_IN, errorAnswer, MalformedQuery, parseQuery, RCODE, TYPE_A, TYPE_ANY, UDP_MAX } from './wire.ts';

/**
 * Answers carry TTL 0: a name follows its tasks within a second of a change, and an answer a
 * client kept longer would be the stale entry Swarm users complain of.
 */
const ANSWER_TTL = 0;
/** A gateway whose bridge is not up yet (its network is being created) is tried again this often. */
const BIND_RETRY_MS = 1_000;
/** An idle TCP connection is closed after this long. */
const TCP_IDLE_MS = 10_000;

interface Listener {
  udp: Socket;
  tcp: Server;
}

export interface DnsServerOptions {
  log: Logger;
  /** The host's resolvers: every name that is not the swarm's goes to them. */
  upstreams: Upstream[];
  /** 53, the port containers ask; tests use another. */
  port?: number;
}

function shuffled<T>(list: T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function closeQuietly(udp: Socket, tcp: Server) {
  try {
    udp.close();
  } catch {
    // never bound, or closed by its error
  }
  tcp.close();
}

export class DnsServer {
  private table = NameTable.EMPTY;
  private readonly listeners = new Map<string, Listener>();
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** Listener changes one at a time, in order: answers come faster than sockets bind. */
  private syncing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: DnsServerOptions) {}

  /** Takes the names of one assignments answer: the table is replaced whole, and the listeners follow the networks. */
  update(names: NetworkNames[], networks: OverlayNetwork[], tasks: Assignment[]): void {
    if (this.closed) return;
    this.table = NameTable.from(names, networks, tasks);
    this.resync();
  }

  private resync(): void {
    this.syncing = this.syncing.then(() => this.syncListeners()).catch((err) => this.opts.log.warn('dns: listener update failed', { error: err }));
  }

  /** The gateways it answers on now. */
  listening(): string[] {
    return [...this.listeners.keys()];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.syncing;
    await Promise.all([...this.listeners.keys()].map((gw) => this.stopListening(gw)));
  }

  /** The answer to one query from `asker`, or undefined when there is nothing to send back. */
  async answer(msg: Buffer, asker: string, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const max = transport === 'udp' ? UDP_MAX : 65_535;
    let query;
    try {
      query = parseQuery(msg);
    } catch (err) {
      const id = err instanceof MalformedQuery ? err.id : undefined;
      return id === undefined ? undefined : errorAnswer(id, RCODE.formErr);
    }
    if (query.opcode !== 0) return buildAnswer(query, { rcode: RCODE.notImp });
    const { name, type, class: qclass } = query.question;
    const hit = qclass === CLASS_IN ? this.table.lookup(asker, name) : { found: false as const, nameservers: undefined };
    if (hit.found) {
      // A known name has only A records: another type gets an empty answer ("no data"), not NXDOMAIN.
      const addresses = type === TYPE_A || type === TYPE_ANY ? shuffled(hit.addresses) : [];
      return buildAnswer(query, { rcode: RCODE.noError, addresses, ttl: ANSWER_TTL }, max);
    }
    const own = hit.nameservers?.flatMap((s) => parseUpstream(s) ?? []);
    const forwarded = await forwardQuery(msg, own?.length ? own : this.opts.upstreams, transport);
    if (!forwarded) this.opts.log.debug('dns: no upstream answered', { name, asker });
    return forwarded ?? buildAnswer(query, { rcode: RCODE.servFail }, max);
  }

  private async syncListeners(): Promise<void> {
    const wanted = new Set(this.table.gateways());
    for (const gw of this.listeners.keys()) if (!wanted.has(gw)) await this.stopListening(gw);
    let missing = false;
    for (const gw of wanted) {
      if (this.listeners.has(gw) || this.closed) continue;
      if (!(await this.listen(gw))) missing = true;
    }
    clearTimeout(this.retry);
    this.retry = missing && !this.closed ? setTimeout(() => this.resync(), BIND_RETRY_MS) : undefined;
  }

  /** Binds UDP and TCP on gateway:port; false when the address is not on a bridge yet (tried again). */
  private async listen(gateway: string): Promise<boolean> {
    const port = this.opts.port ?? 53;
    const udp = createSocket({ type: 'udp4' });
    const tcp = createServer((conn) => this.serveTcp(conn));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: gateway, port, exclusive: true }, () => resolve());
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: gateway, port }, () => resolve());
      });
    } catch (err) {
      closeQuietly(udp, tcp);
      this.opts.log.debug('dns: cannot listen yet; will retry', { gateway, port, error: err });
      return false;
    }
    if (this.closed) {
      closeQuietly(udp, tcp);
      return true;
    }
    udp.on('error', (err) => this.opts.log.warn('dns: UDP socket error', { gateway, error: err }));
    udp.on('message', (msg, from) => {
      void this.answer(msg, from.address, 'udp').then((out) => out && udp.send(out, from.port, from.address));
    });
    tcp.on('error', (err) => this.opts.log.warn('dns: TCP listener error', { gateway, error: err }));
    this.listeners.set(gateway, { udp, tcp });
    this.opts.log.info('dns: answering on the overlay gateway', { gateway, port });
    return true;
  }

  private async stopListening(gateway: string): Promise<void> {
    const l = this.listeners.get(gateway);
    if (!l) return;
    this.listeners.delete(gateway);
    await Promise.all([new Promise<void>((r) => l.udp.close(() => r())), new Promise<void>((r) => l.tcp.close(() => r()))]);
    this.opts.log.info('dns: stopped answering (no task here on that network)', { gateway });
  }

  /** DNS over TCP: each message is preceded by its length (RFC 1035 4.2.2); answered in order. */
  private serveTcp(conn: TcpSocket): void {
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    let buffered = Buffer.alloc(0);
    let queue = Promise.resolve();
    conn.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        queue = queue.then(async () => {
          const out = await this.answer(msg, conn.remoteAddress?.replace(/^::ffff:/, '') ?? '', 'tcp');
          if (!out || conn.destroyed) return;
          const length = Buffer.alloc(2);
          length.writeUInt16BE(out.length);
          conn.write(Buffer.concat([length, out]));
        });
      }
    });
  }
}
