/**
 * The routing mesh: every node listens on every ingress-published port and spreads connections
 * over the service's running tasks on all nodes, so `-p 8080:80` answers on port 8080 of any node.
 *
 *   client ──► :8080 on this node ──► task 10.0.0.5:80 here      (over the ingress bridge)
 *                                 └─► task 10.0.0.7:80 elsewhere (over WireGuard, from this
 *                                                                  node's mesh address)
 *
 * A TCP proxy in the agent, rather than Docker's IPVS: it needs no kernel modules and behaves the
 * same in a network namespace, at the cost of one user-space copy per byte. Which backend takes
 * a connection, and how a dead host is left out within a second, is ingress-backends.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type Dockerode from 'dockerode';
import type { AssignmentsResponse } from '../protocol/agent-api.ts';
import { RETRY_MAX_MS } from './convergence-retry.ts';
import { NODE_LABEL, TASK_LABEL } from './executor/labels.ts';
import type { Logger } from '../protocol/log.ts';
import { Balancer, type Connector, Ejections, type MeshRoute, meshRoutes, raceConnect, tcpConnector } from './ingress-backends.ts';

export type IngressList = AssignmentsResponse['ingress'];

interface Listener {
  route: MeshRoute;
  balancer: Balancer;
  server: Server;
  sockets: Set<Socket>;
}

export class IngressProxy {
  private readonly docker: Dockerode;
  private readonly nodeId: string;
  private readonly log: Logger;
  private readonly bindHost: string | undefined;
  private readonly listeners = new Map<string, Listener>();
  /** Ports that could not be opened, with the reason last logged (logged again only if it changes). */
  private readonly failed = new Map<string, string>();
  private localAddrs = new Map<string, string>();
  /** Shared by every port: a node found unreachable through one service is skipped by all. */
  private readonly ejections = new Ejections();
  private readonly connector: Connector;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  /** `bindHost` limits the listeners to one address (tests run several nodes on one machine). */
  constructor(opts: { docker: Dockerode; nodeId: string; log: Logger; bindHost?: string; connector?: Connector }) {
    this.connector = opts.connector ?? tcpConnector();
    this.docker = opts.docker;
    this.nodeId = opts.nodeId;
    this.log = opts.log;
    this.bindHost = opts.bindHost;
  }

  /**
   * Converges the listeners and backends to the control plane's latest ingress list. Answers what
   * is not in place yet (a port still held by another process, the local tasks' addresses the
   * engine did not give): the same list again retries them.
   */
  update(ingress: IngressList): Promise<string[]> {
    const run = this.queue.then(() => this.apply(ingress));
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await Promise.all([...this.listeners.keys()].map((key) => this.closeListener(key)));
  }

  /** Ports currently listened on, e.g. "8080/tcp" (for status output and tests). */
  get ports(): string[] {
    return [...this.listeners.keys()];
  }

  private async apply(ingress: IngressList): Promise<string[]> {
    if (this.closed) return [];
    const pending: string[] = [];
    // Only a task without an ingress address (it predates its service's published port) needs its container's.
    if (ingress.some((s) => s.backends.some((b) => b.nodeId === this.nodeId && !b.address)) && !(await this.refreshLocalAddrs())) {
      pending.push("this node's task addresses (the engine did not list its containers)");
    }
    const routes = meshRoutes(ingress, this.nodeId, this.localAddrs);

    for (const key of [...this.listeners.keys()]) {
      if (!routes.has(key)) await this.closeListener(key);
    }
    for (const key of [...this.failed.keys()]) if (!routes.has(key)) this.failed.delete(key);

    for (const route of routes.values()) {
      const existing = this.listeners.get(route.key);
      if (existing) {
        if (existing.route.serviceId !== route.serviceId) {
          // The port changed hands between services: start over so no old connection lingers.
          await this.closeListener(route.key);
        } else {
          existing.route = route;
          existing.balancer.set(route.endpoints);
          continue;
        }
      }
      if (route.protocol !== 'tcp') {
        // Nothing to retry: it stays unsupported.
        this.reportFailure(route, `${route.protocol.toUpperCase()} is not supported by the routing mesh yet; publish it in host mode instead`);
        continue;
      }
      if (!(await this.openListener(route))) pending.push(`port ${route.key}`);
    }
    return pending;
  }

  /** Task ID → container address on its network, for the containers of this node; false when the engine did not answer. */
  private async refreshLocalAddrs(): Promise<boolean> {
    try {
      const containers = await this.docker.listContainers({
        filters: { label: [TASK_LABEL, `${NODE_LABEL}=${this.nodeId}`], status: ['running'] },
      });
      const addrs = new Map<string, string>();
      for (const c of containers) {
        const taskId = c.Labels?.[TASK_LABEL];
        const ip = Object.values(c.NetworkSettings?.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
        if (taskId && ip) addrs.set(taskId, ip);
      }
      this.localAddrs = addrs;
      return true;
    } catch (err) {
      // Keep the last known addresses: a hiccup of the engine should not drop every backend.
      this.log.warn('routing mesh: cannot list task containers; keeping the last known backends', { error: err });
      return false;
    }
  }

  private reportFailure(route: MeshRoute, reason: string): void {
    if (this.failed.get(route.key) === reason) return;
    this.failed.set(route.key, reason);
    this.log.error(`routing mesh: cannot publish port ${route.key} of service ${route.serviceId} on this node: ${reason}`, {
      port: route.key,
      serviceId: route.serviceId,
    });
  }

  /** Answers whether it listens now. */
  private async openListener(route: MeshRoute): Promise<boolean> {
    const balancer = new Balancer(this.ejections);
    balancer.set(route.endpoints);
    const sockets = new Set<Socket>();
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const listener: Listener = { route, balancer, server, sockets };
    server.on('connection', (client) => void this.relay(listener, client));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: route.publishedPort, host: this.bindHost }, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason =
        code === 'EADDRINUSE'
          ? `port ${route.publishedPort} is already in use on this host (EADDRINUSE); stop what holds it, the agent keeps retrying (every ${RETRY_MAX_MS / 1_000} s at most)`
          : (err as Error).message;
      this.reportFailure(route, reason);
      server.close();
      return false;
    }
    server.on('error', (err) => this.log.error(`routing mesh: listener ${route.key} failed`, { error: err }));
    this.failed.delete(route.key);
    this.listeners.set(route.key, listener);
    this.log.info(`routing mesh: listening on port ${route.key} for service ${route.serviceId}`, {
      backends: route.endpoints.length,
    });
    return true;
  }

  private async closeListener(key: string): Promise<void> {
    const listener = this.listeners.get(key);
    if (!listener) return;
    this.listeners.delete(key);
    for (const s of listener.sockets) s.destroy();
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
    this.log.info(`routing mesh: closed port ${key} (service ${listener.route.serviceId} no longer publishes it)`);
  }

  /** Joins one client connection to the first endpoint that accepts it. */
  private async relay(listener: Listener, client: Socket): Promise<void> {
    listener.sockets.add(client);
    client.on('error', () => client.destroy());
    client.once('close', () => listener.sockets.delete(client));
    const won = await raceConnect(listener.balancer.order(), this.connector, this.ejections);
    const upstream = won?.socket;
    if (!upstream || client.destroyed) {
      upstream?.destroy();
      client.destroy();
      if (!upstream) this.log.debug(`routing mesh: no backend accepted a connection on ${listener.route.key}`);
      return;
    }
    const up = upstream;
    listener.sockets.add(up);
    up.on('error', () => up.destroy());
    // A clean close of the task's side still lets the client read what was piped to it.
    up.once('close', (hadError) => {
      listener.sockets.delete(up);
      if (hadError) client.destroy();
      else client.end();
    });
    client.once('close', () => up.destroy());
    client.pipe(up);
    up.pipe(client);
    client.resume();
  }
}
