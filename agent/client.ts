import { Readable } from 'node:stream';
import { Agent, request } from './undici.ts';
import type {
  AssignmentsAnswer,
  CredentialResponse,
  DrainsResponse,
  JoinRequest,
  JoinResponse,
  StatusRequest,
  StatusResponse,
  TaskReport,
} from '../protocol/agent-api.ts';
import { AGENT_PREFIX } from '../protocol/agent-api.ts';
import { type ErrorCode, isErrorCode } from '../protocol/errors.ts';
import type { Logger } from '../protocol/log.ts';
import { ControlPlaneInstances } from './instances.ts';
import { OutageLog } from './outage.ts';

/** The control plane answered with an error status: its `{"message", "code"}` reply. */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError';
  constructor(
    readonly status: number,
    message: string,
    readonly code?: ErrorCode,
    /** How long the control plane asked us to wait (its Retry-After), 0 when it did not say. */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }

  /** Reads an error reply; a body that is not the protocol's JSON is kept as the message. */
  static fromReply(status: number, text: string, retryAfter?: string | string[]): ControlPlaneError {
    const waitMs = retryAfterMsOf(retryAfter);
    try {
      const body = JSON.parse(text) as { message?: unknown; code?: unknown };
      if (typeof body.message === 'string') return new ControlPlaneError(status, body.message || `HTTP ${status}`, isErrorCode(body.code) ? body.code : undefined, waitMs);
    } catch {
      // not JSON: keep the text
    }
    return new ControlPlaneError(status, text || `HTTP ${status}`, undefined, waitMs);
  }

  /** `docker node rm`: every credential of the node is void, retrying cannot help. */
  get revoked() {
    return this.code === 'credential_revoked';
  }
  get retryable() {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/** Retry-After in delta-seconds (the control plane's form), capped: a wrong header must not stall the agent for long. */
export function retryAfterMsOf(header: string | string[] | undefined): number {
  const raw = Array.isArray(header) ? header[0] : header;
  const seconds = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, MAX_RETRY_AFTER_S) * 1000 : 0;
}
const MAX_RETRY_AFTER_S = 300;

/** The wait an error answer asked for (0: none, or not an answer). */
export const retryAfterOf = (err: unknown): number => (err instanceof ControlPlaneError ? err.retryAfterMs : 0);

/** The control plane could not be reached at all (refused, reset, timed out, DNS). */
export class ControlPlaneUnreachable extends Error {
  override name = 'ControlPlaneUnreachable';
}

/**
 * Deadlines. A connection is given a second: a SYN lost to a partition is then followed by a new
 * one each second instead of the kernel's backoff (1, 3, 7, 15 s). Every request has a deadline,
 * since a request on a connection that a partition stalled waits for TCP's retransmits, whose
 * backoff grows to minutes: a short one a few seconds, a long-poll its wait and a margin.
 */
export const CONNECT_TIMEOUT_MS = 1_000;
export const REQUEST_DEADLINE_MS = 3_000;
export const JOIN_DEADLINE_MS = 10_000;
export const LONG_POLL_MARGIN_MS = 5_000;

interface CallOptions {
  body?: unknown;
  signal?: AbortSignal;
  auth?: boolean;
  deadlineMs: number;
}

/** A request given up because another one got through: it is sent again, not reported. */
class RetryNow extends Error {}

/** With a CA, connections verify against it alone (the cluster CA the join token pinned), not the system roots. */
const newDispatcher = (ca: string | undefined) => new Agent({ keepAliveTimeout: 60_000, connectTimeout: CONNECT_TIMEOUT_MS, ...(ca ? { connect: { ca } } : {}) });

/**
 * The agent protocol over HTTP (undici). The credential is read for every request, so a renewal
 * takes effect on the next call without rebuilding the client. A request that finds the control
 * plane unreachable takes every other connection with it: they share the path that failed, and a
 * long-poll whose answer a partition swallowed would otherwise wait for TCP to retransmit it.
 */
export class ControlPlaneClient {
  private dispatcher: Agent;
  private readonly outage: OutageLog;
  private readonly ca: string | undefined;
  private readonly sentDuringOutage = new Set<AbortController>();
  credential: string | undefined;
  /** When a request with the node's credential last went out (wall ms): each is a heartbeat. */
  lastSentAt = 0;
  /** Where requests go: one URL, or the cluster's instances, moving on when the one in use is unreachable. */
  readonly instances: ControlPlaneInstances;

  constructor(target: string | ControlPlaneInstances, opts: { log?: Logger; ca?: string } = {}) {
    this.instances = typeof target === 'string' ? new ControlPlaneInstances(target) : target;
    this.ca = opts.ca;
    this.dispatcher = newDispatcher(this.ca);
    this.outage = new OutageLog(opts.log);
  }

  get baseUrl(): string {
    return this.instances.current;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, opts: CallOptions): Promise<T> {
    for (;;) {
      // Sent while the control plane is unreachable: most likely waiting on a SYN the outage dropped.
      const retryNow = new AbortController();
      if (this.outage.down) this.sentDuringOutage.add(retryNow);
      try {
        return await this.attempt<T>(method, path, opts, retryNow);
      } catch (err) {
        // Another request got through meanwhile: this one goes again at once, on a fresh connection.
        if (!(err instanceof RetryNow)) throw err;
      } finally {
        this.sentDuringOutage.delete(retryNow);
      }
    }
  }

  private async attempt<T>(method: 'GET' | 'POST', path: string, opts: CallOptions, retryNow: AbortController): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.auth !== false && this.credential) {
      headers.authorization = `Bearer ${this.credential}`;
      this.lastSentAt = Date.now();
    }
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const deadline = AbortSignal.timeout(opts.deadlineMs);
    const dispatcher = this.dispatcher;
    const baseUrl = this.baseUrl;
    let res;
    let text;
    try {
      res = await request(`${baseUrl}${AGENT_PREFIX}${path}`, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.any([deadline, retryNow.signal, ...(opts.signal ? [opts.signal] : [])]),
        dispatcher,
      });
      text = await res.body.text();
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (retryNow.signal.aborted) throw new RetryNow();
      const why = deadline.aborted ? `no answer within ${opts.deadlineMs} ms` : ((err as { code?: string }).code ?? (err as Error).message);
      const unreachable = new ControlPlaneUnreachable(`cannot reach the control plane at ${baseUrl}: ${why}`);
      this.outage.failed(unreachable);
      this.distrust(dispatcher);
      this.instances.unreachable(baseUrl);
      throw unreachable;
    }
    this.sentDuringOutage.delete(retryNow);
    this.answered();
    if (res.statusCode >= 400) throw ControlPlaneError.fromReply(res.statusCode, text, res.headers['retry-after']);
    return JSON.parse(text) as T;
  }

  /** The control plane answered: an outage ends, and the requests still trying to get through try again at once. */
  private answered() {
    if (!this.outage.down) return;
    this.outage.answered();
    for (const stalled of this.sentDuringOutage) stalled.abort();
    this.sentDuringOutage.clear();
  }

  /** Resolves when the control plane next answers any request (at once unless it is known to be unreachable). */
  answeredAgain(): Promise<void> {
    return this.outage.answeredAgain();
  }

  /** Drops every connection of a dispatcher that failed (once: later failures of its requests find it replaced). */
  private distrust(dispatcher: Agent) {
    if (dispatcher !== this.dispatcher) return;
    this.dispatcher = newDispatcher(this.ca);
    dispatcher.destroy(new ControlPlaneUnreachable('connection dropped: another request found the control plane unreachable')).catch(() => undefined);
  }

  join(body: JoinRequest, signal?: AbortSignal) {
    return this.call<JoinResponse>('POST', '/join', { body, signal, auth: false, deadlineMs: JOIN_DEADLINE_MS });
  }

  renewCredential(signal?: AbortSignal) {
    return this.call<CredentialResponse>('POST', '/credential', { signal, deadlineMs: REQUEST_DEADLINE_MS });
  }

  /**
   * Blocking query: returns when the node's set changes past `index`, or briefly (unchanged) when
   * `waitMs` runs out first.
   */
  assignments(index: number, waitMs: number, signal?: AbortSignal) {
    return this.call<AssignmentsAnswer>('GET', `/assignments?index=${index}&wait=${Math.round(waitMs)}ms&brief=1`, { signal, deadlineMs: waitMs + LONG_POLL_MARGIN_MS });
  }

  status(reports: TaskReport[], signal?: AbortSignal, appliedIndex?: number) {
    return this.call<StatusResponse>('POST', '/status', { body: { reports, appliedIndex } satisfies StatusRequest, signal, deadlineMs: REQUEST_DEADLINE_MS });
  }

  /** Which of these draining tasks no host routes to any more. */
  async drained(taskIds: string[], signal?: AbortSignal): Promise<string[]> {
    const query = taskIds.map((id) => `task=${encodeURIComponent(id)}`).join('&');
    return (await this.call<DrainsResponse>('GET', `/drains?${query}`, { signal, deadlineMs: REQUEST_DEADLINE_MS })).drained;
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
    if (res.statusCode >= 400) throw ControlPlaneError.fromReply(res.statusCode, text, res.headers['retry-after']);
  }

  async close() {
    await this.dispatcher.close();
  }
}
