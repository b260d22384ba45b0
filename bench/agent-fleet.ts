/**
 * Simulated agents by the thousand, as real HTTP clients in processes of their own: the fleet forks
 * worker processes (agent-fleet-worker.ts), each running up to `perWorker` SimAgents
 * (test/harness/sim-agent.ts) that join with the token, long-poll, report their tasks' states and
 * heartbeat as the real agent does. One Node process cannot hold 10,000 agents' timers and sockets
 * without becoming what is measured; neither may the control plane share a process with them.
 *
 * Times cross processes as wall-clock milliseconds (`wallMs()`): the workers answer "when did each
 * agent's long-poll first hold a task of service S, after T".
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { ControlPlaneProcess } from '../test/harness/control-plane-process.ts';
import { ROOT } from '../test/harness/process-output.ts';

export interface FleetOptions {
  /** Agents per worker process (default 1,250). */
  perWorker?: number;
  /** Report accepted → running for new tasks (default true). */
  autoRun?: boolean;
  /** The heartbeat period; default the control plane's. */
  heartbeatMs?: number;
  /** The long-poll wait (default 60 s). */
  waitMs?: number;
  /** Tasks reported failed per second, over the whole fleet, by agents picked at random: task-state churn. */
  churnPerSec?: number;
}

/** What the workers did: heartbeats answered (any agent request answered 2xx), task failures reported (churn), answers other than 2xx by status. */
export interface FleetStats {
  heartbeats: number;
  churned: number;
  refusals: Record<string, number>;
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

class Worker {
  private next = 0;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private exited = false;
  private stopping = false;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(new Error(m.error));
    });
    proc.once('exit', (code, signal) => {
      // Said at once: a worker gone unnoticed stops its agents' heartbeats, and the control plane
      // then (rightly) marks their nodes down and reschedules their tasks, which is not what a
      // benchmark means to measure.
      if (!this.stopping) console.error(`fleet worker ${proc.pid} exited unexpectedly (code ${code}, signal ${signal})`);
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`fleet worker ${proc.pid} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  call<T>(type: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`fleet worker ${this.proc.pid} has exited`));
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc.send({ id, type, ...args });
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.stopping = true;
    const gone = new Promise((r) => this.proc.once('exit', r));
    await this.call('stop').catch(() => undefined);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

export class AgentFleet {
  private readonly workers: Worker[] = [];
  /** Agents joined so far. */
  size = 0;
  /** How long joining the last `add` took, ms. */
  joinMs = 0;

  private constructor(
    private readonly cp: ControlPlaneProcess,
    private readonly token: string,
    private readonly opts: FleetOptions,
  ) {}

  /** Forks the workers, joins `count` agents through POST /agent/v1/join and starts them; resolves once every one has had its first answer. */
  static async start(cp: ControlPlaneProcess, token: string, count: number, opts: FleetOptions = {}): Promise<AgentFleet> {
    const fleet = new AgentFleet(cp, token, opts);
    try {
      await fleet.add(count);
      return fleet;
    } catch (err) {
      await fleet.stop();
      throw err;
    }
  }

  /** Joins `count` more agents, in workers of their own, and starts them. */
  async add(count: number): Promise<void> {
    const perWorker = this.opts.perWorker ?? 1250;
    const sizes = Array.from({ length: Math.ceil(count / perWorker) }, (_, i) => Math.min(perWorker, count - i * perWorker));
    const workers = sizes.map(
      () =>
        new Worker(
          fork(join(ROOT, 'bench/agent-fleet-worker.ts'), [], {
            cwd: ROOT,
            execArgv: ['--import', 'tsx'],
            env: { ...process.env, FLEET_CA_PEM: this.cp.caPem ?? '' },
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          }),
        ),
    );
    this.workers.push(...workers);
    const started = performance.now();
    // Churn spread over the workers in proportion to their agents.
    const churnPerAgent = (this.opts.churnPerSec ?? 0) / count;
    // Joined one worker after another: all at once, their TLS handshakes and joins would only
    // queue in the control plane's listen backlog.
    for (const [i, w] of workers.entries()) {
      await w.call('join', { url: this.cp.url, token: this.token, count: sizes[i], opts: { ...this.opts, churnPerSec: churnPerAgent * sizes[i]! } });
    }
    this.joinMs = performance.now() - started;
    await Promise.all(workers.map((w) => w.call('run')));
    this.size += count;
  }

  /**
   * Per agent, ms from `sinceWallMs` until its long-poll's first answer holding a task of
   * `serviceId`, sorted. Rejects after `timeoutMs` with why agents still wait (read from the
   * database in `dataDir`).
   */
  async deliveries(serviceId: string, sinceWallMs: number, timeoutMs: number, dataDir: string): Promise<number[]> {
    const parts = await Promise.all(this.workers.map((w) => w.call<number[]>('deliveries', { serviceId, sinceWallMs, timeoutMs, dataDir })));
    return parts.flat().sort((a, b) => a - b);
  }

  async stats(): Promise<FleetStats> {
    const parts = await Promise.all(this.workers.map((w) => w.call<FleetStats>('stats')));
    const refusals: Record<string, number> = {};
    for (const p of parts) for (const [k, v] of Object.entries(p.refusals)) refusals[k] = (refusals[k] ?? 0) + v;
    return { heartbeats: parts.reduce((s, p) => s + p.heartbeats, 0), churned: parts.reduce((s, p) => s + p.churned, 0), refusals };
  }

  /** Node IDs of every agent. */
  async nodeIds(): Promise<string[]> {
    return (await Promise.all(this.workers.map((w) => w.call<string[]>('nodeIds')))).flat();
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
