/**
 * HTTP/1.1 for the agent over node:http and node:https, which docker-modem loads anyway: the undici
 * package costs the agent about 8 MiB of resident memory at idle for the two calls it made (see
 * bench/README.md, startup). A pool keeps connections alive between requests, gives a connection a
 * deadline to be established, and can drop every connection at once.
 */
import { Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface HttpCall {
  method: string;
  headers?: Record<string, string>;
  /** A string is sent whole; a stream is piped (a body without end, like the log relay's, needs no deadline). */
  body?: string | Readable;
  signal?: AbortSignal;
}

export interface PoolOptions {
  /** With a CA, https verifies against it alone; without, against the system roots. */
  ca?: string;
  /** Only for probing an address whose certificate is not ours to check (`isControlPlane`). */
  rejectUnauthorized?: boolean;
  connectTimeoutMs: number;
  /** How long an idle connection is kept for the next request. */
  idleMs: number;
}

/** The connection was not established (TCP and, for https, TLS) in time: a SYN lost to a partition, most likely. */
const connectTimeout = (ms: number) => Object.assign(new Error(`no connection within ${ms} ms`), { code: 'ETIMEDOUT' });

export class ConnectionPool {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(private readonly opts: PoolOptions) {
    const common = { keepAlive: true, timeout: opts.idleMs };
    this.http = new HttpAgent(common);
    this.https = new HttpsAgent({ ...common, ...(opts.ca ? { ca: opts.ca } : {}), rejectUnauthorized: opts.rejectUnauthorized ?? true });
  }

  /** Sends one request and reads the whole answer; rejects on a transport failure or when `signal` aborts. */
  request(url: string, call: HttpCall): Promise<HttpReply> {
    const target = new URL(url);
    const tls = target.protocol === 'https:';
    return new Promise<HttpReply>((resolve, reject) => {
      const req = (tls ? httpsRequest : httpRequest)(target, {
        method: call.method,
        headers: call.headers,
        agent: tls ? this.https : this.http,
        ...(call.signal ? { signal: call.signal } : {}),
      });
      // `on`, not `once`: a request can fail twice (a body stream's error, then the socket's), and an unheard error would end the process.
      req.on('error', reject);
      req.once('socket', (socket) => {
        if (req.reusedSocket) return;
        const timer = setTimeout(() => req.destroy(connectTimeout(this.opts.connectTimeoutMs)), this.opts.connectTimeoutMs);
        socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      req.once('response', (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', reject);
        res.once('close', () => {
          if (res.complete) resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
          else reject(call.signal?.aborted ? call.signal.reason : Object.assign(new Error('connection closed before the whole answer came'), { code: 'ECONNRESET' }));
        });
      });
      if (typeof call.body === 'string' || call.body === undefined) req.end(call.body);
      else call.body.on('error', (err) => req.destroy(err)).pipe(req);
    });
  }

  /** Drops every connection, in use or idle: requests on them fail at once. */
  destroy() {
    this.http.destroy();
    this.https.destroy();
  }
}
