/**
 * A TCP proxy that adds round-trip time: every chunk is passed on `rttMs / 2` after it arrived, in
 * each direction, in order. Put between the control plane and a libSQL server it makes the remote
 * database as far away as a hosted one (bench/remote-db.ts).
 */
import { createConnection, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

function delayed(from: Socket, to: Socket, ms: number): void {
  from.on('data', (chunk) => {
    // Timers of one delay fire in the order they were set: the stream stays in order.
    setTimeout(() => to.write(chunk), ms);
  });
  from.on('end', () => setTimeout(() => to.end(), ms));
  from.on('error', () => to.destroy());
}

export async function startDelayProxy(target: { host: string; port: number }, rttMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = createConnection(target);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, upstream, rttMs / 2);
    delayed(upstream, client, rttMs / 2);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
