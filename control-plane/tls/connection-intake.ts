import type { Socket } from 'node:net';
import type { Server } from 'node:tls';

/** What Go's TLS server, and so dockerd, answers a plain-HTTP request on its TLS port. */
const PLAIN_HTTP_ANSWER = 'HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
/** Every TLS connection starts with a handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;
/** A connection that sends nothing is not kept waiting for its first byte longer than this. */
const FIRST_BYTE_TIMEOUT_MS = 30_000;

/**
 * How the HTTPS server takes a new connection, looking at its first byte:
 * - plain HTTP is answered as dockerd answers it, instead of cut: the docker CLI pointed at the port
 *   without `DOCKER_TLS_VERIFY` then says "Client sent an HTTP request to an HTTPS server." rather
 *   than a bare EOF;
 * - TLS goes, byte put back, to the server's own TLS handling once `handshakeTurn` says it is the
 *   address's turn (FairShare.handshakeTurn: one per turn of the event loop, round the peer addresses). Node runs the handshake of every
 *   connection accepted in one poll back to back: 400 connections of a flood took 330 ms of
 *   handshakes in one go (profiled), and another tenant's request waited for all of them.
 */
export function takeConnections(server: Server, handshakeTurn: (address: string) => Promise<void> | undefined): void {
  const startTls = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const giveUp = () => socket.destroy();
    const handshake = () => {
      socket.setTimeout(0);
      socket.off('error', giveUp);
      if (!socket.destroyed) for (const listener of startTls) listener.call(server, socket);
    };
    socket.on('error', giveUp);
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, giveUp);
    socket.once('readable', () => {
      const first: Buffer | null = socket.read(1);
      if (first === null) return giveUp();
      socket.unshift(first);
      if (first[0] !== TLS_HANDSHAKE_RECORD) return void socket.end(PLAIN_HTTP_ANSWER);
      const turn = handshakeTurn(socket.remoteAddress ?? '');
      if (turn) void turn.then(handshake);
      else handshake();
    });
  });
}
