import { createSocket } from 'node:dgram';
import { buildAnswer, parseQuery, RCODE, TYPE_A } from '../../../agent/dns/wire.ts';

/**
 * A resolver that knows a few names (name → IPv4), over UDP on `addr:port`: the test hosts'
 * "outside world" for names no swarm knows. Every other name is NXDOMAIN. Records what it was asked.
 */
export async function serveOutsideNames(addr: string, port: number, known: Record<string, string>): Promise<{ asked: string[]; close: () => Promise<void> }> {
  const asked: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => {
    try {
      const q = parseQuery(msg);
      asked.push(q.question.name);
      const found = known[q.question.name.toLowerCase()];
      const answer = found ? { rcode: RCODE.noError, addresses: q.question.type === TYPE_A ? [found] : [] } : { rcode: RCODE.nxDomain };
      socket.send(buildAnswer(q, answer, 512), from.port, from.address);
    } catch {
      // not a query: no answer
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: addr, port, exclusive: true }, () => resolve());
  });
  return { asked, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}
