import type Dockerode from 'dockerode';
import type { Server } from 'node:http';
import { type AssignmentsAnswer, type AssignmentsResponse, isUnchanged } from '../protocol/agent-api.ts';
import { Backoff, sleep } from './backoff.ts';
import { ConvergenceRetry } from './convergence-retry.ts';
import { ControlPlaneClient, ControlPlaneError, ControlPlaneUnreachable, retryAfterOf } from './client.ts';
import type { AgentConfig } from './config.ts';
import { DnsServer } from './dns/server.ts';
import { DrainWatch } from './executor/drain-watch.ts';
import { Executor } from './executor/executor.ts';
import { IngressProxy } from './ingress.ts';
import { ControlPlaneInstances } from './instances.ts';
import { AgentExit, joinCluster } from './join.ts';
import type { Logger } from '../protocol/log.ts';
import { LogRelay } from './logs.ts';
import { AgentMetrics, serveAgentMetrics } from './metrics.ts';
import { OverlayMesh } from './mesh/overlay-mesh.ts';
import { retryDelay, waitToRetry } from './outage.ts';
import { StatusReporter } from './reporter.ts';
import type { NodeIdentity, StateDir } from './state.ts';


const isRevoked = (err: unknown) => err instanceof ControlPlaneError && err.revoked;
const isExpired = (err: unknown) => err instanceof ControlPlaneError && err.status === 401 && !err.revoked;

/**
 * The host's daemon once joined: long-polls the node's assignments, converges the engine to them,
 * reports and heartbeats, and keeps its credential fresh. Losing the control plane or the engine
 * only slows it down (backoff with jitter); a revoked credential ends it.
 */
export class SwarmAgent {
  private readonly client: ControlPlaneClient;
  private readonly instances: ControlPlaneInstances;
  private readonly executor: Executor;
  private readonly reporter: StatusReporter;
  private readonly ingress: IngressProxy;
  private readonly logs: LogRelay;
  private readonly mesh: OverlayMesh;
  private readonly dns: DnsServer;
  private readonly drains: DrainWatch;
  /** The overlay mesh, VIP rules and routing mesh of the last answer, tried again until in place. */
  private readonly networking: ConvergenceRetry<AssignmentsResponse>;
  private readonly abort = new AbortController();
  private readonly metrics = new AgentMetrics();
  private metricsServer: Server | undefined;
  private fatal: ((err: AgentExit) => void) | undefined;
  private identity: NodeIdentity;
  private recovering: Promise<void> | undefined;

  constructor(
    private readonly opts: { config: AgentConfig; identity: NodeIdentity; state: StateDir; docker: Dockerode; log: Logger },
  ) {
    const { docker, log } = opts;
    this.identity = opts.identity;
    const nodeId = this.identity.nodeId;
    const { state } = opts;
    this.instances = new ControlPlaneInstances(this.identity.controlPlaneUrl, {
      clusterId: this.identity.clusterId,
      saved: state.readControlPlanes(),
      save: (s) => state.saveControlPlanes(s),
      log,
    });
    this.client = new ControlPlaneClient(this.instances, { log, ca: state.readCa() });
    this.client.credential = this.identity.credential;
    this.reporter = new StatusReporter({
      client: this.client,
      log,
      heartbeatMs: 5_000,
      isFatal: (err) => isRevoked(err),
      onRefused: (err) => void this.revoked(err),
    });
    this.mesh = new OverlayMesh({ docker, nodeId, log, wireguardInterface: opts.config.wireguardInterface, privateKeyFile: opts.state.wireguardKeyFile() });
    this.dns = new DnsServer({ log, upstreams: opts.config.dnsUpstreams });
    this.drains = new DrainWatch((ids) => this.client.drained(ids, this.abort.signal), log);
    this.executor = new Executor({ docker, nodeId, log, report: (r) => this.reporter.report(r), networks: this.mesh, drains: this.drains });
    this.ingress = new IngressProxy({ docker, nodeId, log });
    this.networking = new ConvergenceRetry({ attempt: (res) => this.convergeNetworking(res), log, what: 'host networking' });
    this.logs = new LogRelay({ docker, nodeId, log, post: (path, body) => this.client.postStream(path, body), relayed: (bytes) => this.metrics.logBytes.inc({}, bytes) });
    this.metrics.watchEngine(docker);
  }

  /** Runs until stop() (resolves) or a reason to give up (rejects with AgentExit). */
  async run(): Promise<void> {
    const { log } = this.opts;
    const stopped = new Promise<void>((resolve, reject) => {
      this.fatal = reject;
      this.abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (this.identity.credentialExpiresAt <= Date.now()) await this.rejoin('the saved node credential has expired');
    log.info('agent running', { node: this.identity.nodeId, cluster: this.identity.clusterId, controlPlane: this.instances.current });
    const { metricsAddr } = this.opts.config;
    if (metricsAddr) {
      const observed = { docker: this.opts.docker, nodeId: this.identity.nodeId, peerHandshakes: () => this.mesh.peerHandshakes() };
      this.metricsServer = await serveAgentMetrics(metricsAddr, this.metrics, observed, log).catch((err: Error) => {
        throw new AgentExit(`cannot serve metrics on ${metricsAddr.host}:${metricsAddr.port}: ${err.message}; pick another --metrics-addr`);
      });
      log.info('serving metrics', { url: `http://${metricsAddr.host.includes(':') ? `[${metricsAddr.host}]` : metricsAddr.host}:${metricsAddr.port}/metrics` });
    }
    this.reporter.start();
    this.executor.start();
    void this.followAssignments();
    void this.renewCredentials();
    try {
      await stopped;
    } finally {
      await this.shutdown();
    }
  }

  /** Stops the agent; the containers keep running and are adopted by the next start. */
  stop() {
    this.abort.abort();
  }

  private async shutdown() {
    this.abort.abort();
    this.networking.stop();
    this.metricsServer?.close();
    this.executor.stop();
    this.drains.close();
    this.logs.close();
    await Promise.all([this.reporter.stop(), this.ingress.close().catch(() => undefined), this.mesh.close().catch(() => undefined), this.dns.close()]);
    await this.client.close();
  }

  private fail(message: string) {
    this.fatal?.(new AgentExit(message));
  }

  private async revoked(err: unknown) {
    if (this.abort.signal.aborted) return;
    this.opts.log.error('node credential revoked: this node was removed from the swarm; removing its task containers', { error: err });
    await this.executor.removeAll().catch(() => undefined);
    // The node left the swarm: its overlay networks and WireGuard interface go with its tasks.
    this.networking.stop();
    const left = await this.mesh.update(undefined).pass;
    if (left) this.opts.log.warn('cannot remove the overlay mesh', { error: left });
    this.fail('this node was removed from the swarm (node credential revoked); to rejoin, run: swarm-agent join <token>');
  }

  /** A credential that expired while the agent was away: rejoin as the same node with the saved token. */
  private async rejoin(why: string) {
    const { log, config, state, docker } = this.opts;
    const token = this.identity.joinToken;
    if (!token) throw new AgentExit(`${why} and no join token was saved; run: swarm-agent join <token>`);
    log.warn(`${why}; rejoining with the saved join token`);
    const backoff = new Backoff(1_000, 30_000);
    for (;;) {
      try {
        const { controlPlaneUrl: url, clusterId } = this.identity;
        this.identity = await joinCluster({ url, token, clusterId, docker, config, state, log, instances: this.instances });
        this.client.credential = this.identity.credential;
        return;
      } catch (err) {
        // Unreachable or engine down: wait. Refused: the token is no longer good, nothing to wait for.
        if (err instanceof AgentExit && err.refused) throw new AgentExit(`${why} and ${err.message}; run: swarm-agent join <token>`);
        const delay = backoff.next();
        log.warn('rejoin failed; will retry', { error: err, retryInMs: Math.round(delay) });
        await sleep(delay, this.abort.signal);
        if (this.abort.signal.aborted) return;
      }
    }
  }

  /** One recovery at a time, however many loops saw the refusal. */
  private onAuthError(err: unknown): Promise<void> {
    this.recovering ??= (async () => {
      if (isRevoked(err)) return this.revoked(err);
      try {
        await this.rejoin(`the control plane refused the node credential (${(err as Error).message})`);
      } catch (exit) {
        this.fatal?.(exit as AgentExit);
      }
    })().finally(() => (this.recovering = undefined));
    return this.recovering;
  }

  /** How often to be heard from, and where to go if the instance in use fails: in every answer. */
  private learnTiming(res: AssignmentsAnswer) {
    if (res.heartbeatPeriodMs) this.reporter.heartbeatMs = res.heartbeatPeriodMs;
    // Absent from control planes older than the list.
    if (res.controlPlaneUrls) this.instances.learn(res.controlPlaneUrls);
  }

  private applyAssignments(res: AssignmentsResponse) {
    this.learnTiming(res);
    // The mesh first: the view it keeps is what the executor's new containers attach to. Not
    // waited for: the tasks and names go on meanwhile.
    void this.networking.set(res);
    // Kept until the next answer: the host goes on answering while the control plane is away.
    this.dns.update(res.names ?? [], res.mesh?.networks ?? [], res.tasks);
    this.executor.setAssignments(res.tasks);
    try {
      this.logs.handle(res.logRequests ?? []);
    } catch (err) {
      this.opts.log.warn('log relay failed', { error: err });
    }
  }

  /**
   * One try at the host's networking of an answer: overlay mesh, VIP rules, routing mesh. Rejects
   * with what is not in place; `networking` tries the same answer again on its timer.
   */
  private async convergeNetworking(res: AssignmentsResponse): Promise<void> {
    const mesh = this.mesh.update(res.mesh, res.names);
    const routing = this.ingress.update(res.ingress ?? []).then(
      (pending) => (pending.length ? new Error(`routing mesh: not in place yet: ${pending.join('; ')}`) : undefined),
      (err: Error) => err,
    );
    const [vips, ingress] = await Promise.all([mesh.virtualIps, routing]);
    // Names are in place now; once the VIP rules and the routing mesh are too, say so: a task that
    // stopped being a backend elsewhere drains until every host routing to it has.
    if (!vips && !ingress) this.reporter.applied(res.index);
    // The pass settles before a retry is timed, so retries never stack up in the mesh's queue.
    const pass = await mesh.pass;
    const failed = vips ?? ingress ?? pass;
    if (failed) throw failed;
  }

  private async followAssignments() {
    const { log } = this.opts;
    const signal = this.abort.signal;
    const backoff = new Backoff(500, 30_000);
    let index = 0;
    while (!signal.aborted) {
      const asked = Date.now();
      try {
        // At most half a heartbeat period: the poll is the node's heartbeat (StatusReporter).
        const wait = Math.min(this.opts.config.longPollWaitMs, Math.max(200, this.reporter.heartbeatMs / 2));
        const res = await this.client.assignments(index, index ? wait : 0, signal);
        backoff.reset();
        if (isUnchanged(res)) {
          // Nothing new: what the host holds stands.
          this.learnTiming(res);
        } else {
          this.metrics.assignments.inc();
          if (res.index !== index || !index) log.debug('assignments', { index: res.index, tasks: res.tasks.length });
          this.applyAssignments(res);
        }
        // A blocking query only blocks for index > 0; a node without tasks yet asks from 1.
        const next = Math.max(res.index, 1);
        if (next === index && Date.now() - asked < 100) await sleep(1_000, signal);
        index = next;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ControlPlaneError && err.status === 401) {
          await this.onAuthError(err);
          continue;
        }
        // Unreachable: the client says so once per outage, and the next attempt goes within a second.
        const unreachable = err instanceof ControlPlaneUnreachable;
        const delay = retryDelay(backoff, unreachable, Date.now() - asked, retryAfterOf(err));
        const fields = { error: err, retryInMs: Math.round(delay), failures: backoff.failures };
        if (!unreachable && (backoff.failures <= 1 || backoff.failures % 10 === 0)) log.warn('cannot get assignments; will retry', fields);
        else log.debug('cannot get assignments; will retry', fields);
        await waitToRetry(delay, signal, unreachable ? this.client.answeredAgain() : undefined);
      }
    }
  }

  /** Renews the node credential at half its remaining life, so a few failures still leave time. */
  private async renewCredentials() {
    const { log, state } = this.opts;
    const signal = this.abort.signal;
    const backoff = new Backoff(1_000, 60_000);
    let delay = Math.max(1_000, (this.identity.credentialExpiresAt - Date.now()) / 2);
    while (!signal.aborted) {
      await sleep(delay, signal);
      if (signal.aborted) return;
      try {
        const res = await this.client.renewCredential(signal);
        this.identity = { ...this.identity, credential: res.credential, credentialExpiresAt: res.credentialExpiresAt };
        this.client.credential = res.credential;
        state.saveIdentity(this.identity);
        backoff.reset();
        log.info('renewed node credential', { expiresAt: new Date(res.credentialExpiresAt).toISOString() });
        delay = Math.max(1_000, (res.credentialExpiresAt - Date.now()) / 2);
      } catch (err) {
        if (signal.aborted) return;
        if (isRevoked(err) || isExpired(err)) {
          await this.onAuthError(err);
          delay = Math.max(1_000, (this.identity.credentialExpiresAt - Date.now()) / 2);
          continue;
        }
        delay = Math.min(backoff.next(), Math.max(1_000, (this.identity.credentialExpiresAt - Date.now()) / 2));
        log.warn('credential renewal failed; will retry', { error: err, retryInMs: Math.round(delay) });
      }
    }
  }
}
