import type { Socket } from 'node:net';
import type { Server } from 'node:tls';

/** What Go's TLS server, and so dockerd, answers a plain-HTTP request on its TLS port. */
const PLAIN_HTTP_ANSWER = 'HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
/** Every TLS connection starts with a handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;
/** A connection that sends nothing is not kept waiting for its first byte longer than this. */
const FIRST_BYTE_TIMEOUT_MS = 30_000;

/**
 * Answers a plain-HTTP request on the HTTPS port as dockerd does, instead of cutting the
 * connection: the docker CLI pointed at the port without `DOCKER_TLS_VERIFY` then says "Client sent
 * an HTTP request to an HTTPS server." rather than a bare EOF. Looks at the first byte of each
 * connection and hands TLS ones, byte put back, to the server's own TLS handling.
 */
export function refusePlainHttp(server: Server): void {
  const startTls = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const giveUp = () => socket.destroy();
    socket.on('error', giveUp);
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, giveUp);
    socket.once('readable', () => {
      socket.setTimeout(0);
      socket.off('error', giveUp);
      const first: Buffer | null = socket.read(1);
      if (first === null) return giveUp();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE_RECORD) {
        for (const listener of startTls) listener.call(server, socket);
      } else {
        socket.on('error', giveUp);
        socket.end(PLAIN_HTTP_ANSWER);
      }
    });
  });
}
