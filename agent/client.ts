import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type {
  AssignmentsResponse,
  CredentialResponse,
  JoinRequest,
  JoinResponse,
  StatusResponse,
  TaskReport,
} from '../protocol/agent-api.ts';
import { AGENT_PREFIX } from '../protocol/agent-api.ts';
import { type ErrorCode, isErrorCode } from '../protocol/errors.ts';

/** The control plane answered with an error status: its `{"message", "code"}` reply. */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError';
  constructor(
    readonly status: number,
    message: string,
    readonly code?: ErrorCode,
  ) {
    super(message);
  }

  /** Reads an error reply; a body that is not the protocol's JSON is kept as the message. */
  static fromReply(status: number, text: string): ControlPlaneError {
    try {
      const body = JSON.parse(text) as { message?: unknown; code?: unknown };
      if (typeof body.message === 'string') return new ControlPlaneError(status, body.message || `HTTP ${status}`, isErrorCode(body.code) ? body.code : undefined);
    } catch {
      // not JSON: keep the text
    }
    return new ControlPlaneError(status, text || `HTTP ${status}`);
  }

  /** `docker node rm`: every credential of the node is void, retrying cannot help. */
  get revoked() {
    return this.code === 'credential_revoked';
  }
  get retryable() {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/** The control plane could not be reached at all (refused, reset, timed out, DNS). */
export class ControlPlaneUnreachable extends Error {
  override name = 'ControlPlaneUnreachable';
}

/**
 * The agent protocol over HTTP (undici). The credential is read for every request, so a renewal
 * takes effect on the next call without rebuilding the client.
 */
export class ControlPlaneClient {
  private readonly dispatcher = new Agent({ keepAliveTimeout: 60_000, connectTimeout: 10_000 });
  credential: string | undefined;

  constructor(readonly baseUrl: string) {}

  private async call<T>(method: 'GET' | 'POST', path: string, opts: { body?: unknown; signal?: AbortSignal; auth?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.auth !== false && this.credential) headers.authorization = `Bearer ${this.credential}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await request(`${this.baseUrl}${AGENT_PREFIX}${path}`, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
        dispatcher: this.dispatcher,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const code = (err as { code?: string }).code;
      throw new ControlPlaneUnreachable(`cannot reach the control plane at ${this.baseUrl}: ${code ?? (err as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) throw ControlPlaneError.fromReply(res.statusCode, text);
    return JSON.parse(text) as T;
  }

  join(body: JoinRequest, signal?: AbortSignal) {
    return this.call<JoinResponse>('POST', '/join', { body, signal, auth: false });
  }

  renewCredential(signal?: AbortSignal) {
    return this.call<CredentialResponse>('POST', '/credential', { signal });
  }

  /** Blocking query: returns when the node's set changes past `index` or `waitMs` runs out. */
  assignments(index: number, waitMs: number, signal?: AbortSignal) {
    return this.call<AssignmentsResponse>('GET', `/assignments?index=${index}&wait=${Math.round(waitMs)}ms`, { signal });
  }

  status(reports: TaskReport[], signal?: AbortSignal) {
    return this.call<StatusResponse>('POST', '/status', { body: { reports }, signal });
  }

  /** A streaming POST with the node credential (log relay). */
  async postStream(path: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    const url = path.startsWith('/agent/') ? `${this.baseUrl}${path}` : `${this.baseUrl}${AGENT_PREFIX}${path}`;
    const res = await request(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.credential ?? ''}`, 'content-type': 'application/octet-stream' },
      body: Readable.from(body),
      dispatcher: this.dispatcher,
      bodyTimeout: 0,
    });
    const text = await res.body.text();
    if (res.statusCode >= 400) throw ControlPlaneError.fromReply(res.statusCode, text);
  }

  async close() {
    await this.dispatcher.close();
  }
}
