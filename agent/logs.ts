/**
 * The agent's half of `docker service logs`: for each log request in the assignments, read the
 * task containers' logs from the local engine and post them to the control plane in batches.
 *
 *   docker logs (stdcopy, timestamps) ─► frames `<taskId> <ts> <line>` ─► POST /agent/v1/logs/{id}
 *
 * Batches (at most every 100 ms, at most 256 KiB) keep each POST short: the control plane may run
 * where requests cannot last, and each batch is one database write there.
 */
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { LogRequest } from '../protocol/agent-api.ts';
import { NODE_LABEL, TASK_LABEL } from './executor/labels.ts';
import type { Logger } from '../protocol/log.ts';
import { encodeLogFrame } from '../protocol/log-frames.ts';
import { sleep } from './backoff.ts';
import { retryAfterOf } from './client.ts';

const BATCH_MS = 100;
const BATCH_MAX_BYTES = 256 * 1024;
/** Reading from the engine pauses while this much waits to be posted. */
const PENDING_MAX_BYTES = 1024 * 1024;
const POST_ATTEMPTS = 3;
/** A 429 without Retry-After is retried after this. */
const RATE_LIMITED_RETRY_MS = 1_000;

export type PostLogs = (path: string, body: AsyncIterable<Uint8Array>) => Promise<void>;

interface RelayOptions {
  docker: Dockerode;
  nodeId: string;
  log: Logger;
  post: PostLogs;
  /** A batch of this many bytes reached the control plane (the metrics count them). */
  relayed?: (bytes: number) => void;
}

/** The control plane no longer wants this request (410 Gone, or 404 once it was cleaned up). */
class RequestClosed extends Error {}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Splits the engine's log stream into frames for the control plane, each payload prefixed with
 * the task ID. A TTY container's log is one raw stream: it is split into lines, all stdout.
 */
export class EngineLogDecoder {
  private buffer = new Uint8Array(0);
  private readonly prefix: Uint8Array;

  constructor(
    taskId: string,
    private readonly tty: boolean,
  ) {
    this.prefix = new TextEncoder().encode(`${taskId} `);
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    const frames: Uint8Array[] = [];
    let at = 0;
    if (this.tty) {
      for (let nl = joined.indexOf(0x0a, at); nl >= 0; nl = joined.indexOf(0x0a, at)) {
        frames.push(this.frame(1, joined.subarray(at, nl + 1)));
        at = nl + 1;
      }
    } else {
      const view = new DataView(joined.buffer);
      while (joined.length - at >= 8) {
        const length = view.getUint32(at + 4);
        if (joined.length - at - 8 < length) break;
        const stream = joined[at] === 2 ? 2 : 1;
        frames.push(this.frame(stream, joined.subarray(at + 8, at + 8 + length)));
        at += 8 + length;
      }
    }
    this.buffer = joined.slice(at);
    return frames;
  }

  /** What is left when the stream ends: a TTY's last line without a newline. */
  end(): Uint8Array[] {
    const rest = this.buffer;
    this.buffer = new Uint8Array(0);
    return this.tty && rest.length ? [this.frame(1, rest)] : [];
  }

  private frame(stream: number, payload: Uint8Array): Uint8Array {
    const withTask = new Uint8Array(this.prefix.length + payload.length);
    withTask.set(this.prefix);
    withTask.set(payload, this.prefix.length);
    return encodeLogFrame(stream, withTask);
  }
}

/** Serves one log request: reads its containers, posts batches, then says it is done. */
class LogSession {
  readonly abort = new AbortController();
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private producing = true;
  private wakeSender: (() => void) | undefined;
  private drained: Array<() => void> = [];

  constructor(
    private readonly opts: RelayOptions,
    readonly request: LogRequest,
  ) {}

  get path() {
    return `/agent/v1/logs/${this.request.id}`;
  }

  async run(): Promise<void> {
    const sender = this.sendLoop();
    try {
      const containers = await this.containers();
      if (this.request.follow) await Promise.all(containers.map((c) => this.read(c)));
      else for (const c of containers) await this.read(c);
    } catch (err) {
      if (!this.abort.signal.aborted) this.opts.log.warn('log relay: cannot read task logs', { request: this.request.id, error: err });
    }
    this.producing = false;
    this.wake();
    await sender;
  }

  stop(): void {
    this.abort.abort();
    this.wake();
    for (const d of this.drained.splice(0)) d();
  }

  private wake() {
    const w = this.wakeSender;
    this.wakeSender = undefined;
    w?.();
  }

  /** The request's task containers on this engine, in the request's order; tasks without one are skipped. */
  private async containers(): Promise<Array<{ taskId: string; id: string; tty: boolean }>> {
    const { docker } = this.opts;
    const list = await docker.listContainers({ all: true, filters: { label: [TASK_LABEL, `${NODE_LABEL}=${this.opts.nodeId}`] } });
    const byTask = new Map(list.map((c) => [c.Labels[TASK_LABEL]!, c.Id]));
    const found: Array<{ taskId: string; id: string; tty: boolean }> = [];
    for (const taskId of this.request.taskIds) {
      const id = byTask.get(taskId);
      if (!id) {
        this.opts.log.debug('log relay: no container for task; skipping it', { request: this.request.id, taskId });
        continue;
      }
      const info = await docker.getContainer(id).inspect();
      found.push({ taskId, id, tty: Boolean(info.Config?.Tty) });
    }
    return found;
  }

  private async read(container: { taskId: string; id: string; tty: boolean }): Promise<void> {
    const { tail, since, follow } = this.request;
    const stream: Readable = await new Promise((resolve, reject) =>
      this.opts.docker.modem.dial(
        {
          path: `/containers/${container.id}/logs?`,
          method: 'GET',
          isStream: true,
          abortSignal: this.abort.signal,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          options: { follow, stdout: true, stderr: true, timestamps: true, tail: String(tail), ...(since ? { since: since.toFixed(6) } : {}) },
        },
        (err: Error | null, s: unknown) => (err ? reject(err) : resolve(s as Readable)),
      ),
    );
    const decoder = new EngineLogDecoder(container.taskId, container.tty);
    const onAbort = () => stream.destroy();
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of stream) {
        await this.enqueue(decoder.push(chunk as Uint8Array));
        if (this.abort.signal.aborted) return;
      }
      await this.enqueue(decoder.end());
    } catch (err) {
      if (!this.abort.signal.aborted) throw err;
    } finally {
      this.abort.signal.removeEventListener('abort', onAbort);
    }
  }

  private async enqueue(frames: Uint8Array[]): Promise<void> {
    for (const f of frames) {
      this.pending.push(f);
      this.pendingBytes += f.length;
    }
    if (frames.length) this.wake();
    // Backpressure: the engine waits while the control plane is behind.
    while (this.pendingBytes > PENDING_MAX_BYTES && !this.abort.signal.aborted) await new Promise<void>((r) => this.drained.push(r));
  }

  private takeBatch(): Uint8Array[] {
    const batch: Uint8Array[] = [];
    let bytes = 0;
    while (this.pending.length && (batch.length === 0 || bytes + this.pending[0]!.length <= BATCH_MAX_BYTES)) {
      const f = this.pending.shift()!;
      batch.push(f);
      bytes += f.length;
    }
    this.pendingBytes -= bytes;
    if (this.pendingBytes <= PENDING_MAX_BYTES) for (const d of this.drained.splice(0)) d();
    return batch;
  }

  private async sendLoop(): Promise<void> {
    const { signal } = this.abort;
    try {
      while (!signal.aborted) {
        if (this.pending.length === 0) {
          if (!this.producing) break;
          await new Promise<void>((r) => (this.wakeSender = r));
          continue;
        }
        // Let a batch gather: one POST per burst of lines rather than one per line.
        if (this.producing && this.pendingBytes < BATCH_MAX_BYTES) await new Promise((r) => setTimeout(r, BATCH_MS));
        await this.send(this.takeBatch(), false);
      }
      if (!signal.aborted) await this.send([], true);
    } catch (err) {
      if (!(err instanceof RequestClosed)) this.opts.log.warn('log relay: giving up on a log request', { request: this.request.id, error: err });
      this.stop();
    }
  }

  private async send(frames: Uint8Array[], done: boolean): Promise<void> {
    const path = done ? `${this.path}?done=1` : this.path;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.post(
          path,
          (async function* () {
            if (frames.length) yield Buffer.concat(frames);
          })(),
        );
        this.opts.relayed?.(frames.reduce((sum, f) => sum + f.length, 0));
        return;
      } catch (err) {
        const status = statusOf(err);
        if (status === 410 || status === 404) throw new RequestClosed();
        // Over the control plane's log rate or store: wait as asked and send the same batch again.
        // Meanwhile the pending buffer fills and reading from the engine pauses (backpressure).
        if (status === 429) {
          attempt = 0;
          await sleep(Math.max(retryAfterOf(err), RATE_LIMITED_RETRY_MS), this.abort.signal);
          if (this.abort.signal.aborted) throw new RequestClosed();
          continue;
        }
        if (attempt >= POST_ATTEMPTS || (status !== undefined && status < 500)) throw err;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  }
}

/**
 * Serves the log requests of this node. `handle` gets every assignments answer's list: new
 * requests start, requests no longer listed stop (the client went away), and a request already
 * served or finished is left alone.
 */
export class LogRelay {
  private readonly sessions = new Map<string, LogSession>();
  /** Finished requests still listed (the answer may predate our done mark): not served twice. */
  private readonly finished = new Set<string>();
  private closed = false;

  constructor(private readonly opts: RelayOptions) {}

  handle(requests: LogRequest[]): void {
    if (this.closed) return;
    const listed = new Set(requests.map((r) => r.id));
    for (const [id, session] of this.sessions) {
      if (!listed.has(id)) {
        session.stop();
        this.sessions.delete(id);
      }
    }
    for (const id of this.finished) if (!listed.has(id)) this.finished.delete(id);
    for (const request of requests) {
      if (this.sessions.has(request.id) || this.finished.has(request.id)) continue;
      const session = new LogSession(this.opts, request);
      this.sessions.set(request.id, session);
      this.opts.log.debug('log relay: serving a log request', { request: request.id, tasks: request.taskIds.length, follow: request.follow });
      void session.run().finally(() => {
        if (this.sessions.get(request.id) === session) {
          this.sessions.delete(request.id);
          if (!this.closed) this.finished.add(request.id);
        }
      });
    }
  }

  /** Request IDs being served now (for status output and tests). */
  get active(): string[] {
    return [...this.sessions.keys()];
  }

  close(): void {
    this.closed = true;
    for (const session of this.sessions.values()) session.stop();
    this.sessions.clear();
  }
}
