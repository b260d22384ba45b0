/**
 * The routing mesh: every node listens on every ingress-published port and spreads connections
 * over the service's running tasks, so `-p 8080:80` answers on port 8080 of any node.
 *
 *   client ──► :8080 on this node ──► local task 172.17.0.5:80   (round robin over local tasks)
 *                                 └─► other node addr:8080       (only when no task runs here;
 *                                                                  that node serves it locally)
 *
 * A TCP proxy in the agent, rather than Docker's IPVS: it needs no kernel modules and behaves the
 * same in a network namespace, at the cost of one user-space copy per byte.
 *
 * One file of about 300 lines: the backend table and the listeners that follow it change together.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type Dockerode from 'dockerode';
import type { AssignmentsResponse } from '../protocol/agent-api.ts';
import type { PortConfig } from '../protocol/task-spec.ts';
import { NODE_LABEL, TASK_LABEL } from './executor/labels.ts';
import type { Logger } from '../protocol/log.ts';

const CONNECT_TIMEOUT_MS = 3_000;

export type IngressList = AssignmentsResponse['ingress'];

/** Where one connection can go: a task's container here, or another node's routing mesh. */
export interface Endpoint {
  taskId: string;
  nodeId: string;
  host: string;
  port: number;
  local: boolean;
}

/** One published port as this node serves it. */
export interface MeshRoute {
  key: string;
  protocol: PortConfig['Protocol'];
  publishedPort: number;
  serviceId: string;
  endpoints: Endpoint[];
  /** Addresses of other nodes with tasks: a connection from one was forwarded once already. */
  peers: Set<string>;
}

export const routeKey = (protocol: string, port: number) => `${port}/${protocol}`;

/**
 * The routes this node serves, from the control plane's ingress list and the addresses of the
 * task containers found here. A task of this node without a container address yet is left out.
 */
export function meshRoutes(ingress: IngressList, nodeId: string, localAddrs: ReadonlyMap<string, string>): Map<string, MeshRoute> {
  const routes = new Map<string, MeshRoute>();
  for (const service of ingress) {
    for (const port of service.ports) {
      if (port.PublishMode !== 'ingress' || !port.PublishedPort) continue;
      const endpoints: Endpoint[] = [];
      const peers = new Set<string>();
      for (const b of service.backends) {
        if (b.nodeId === nodeId) {
          const ip = localAddrs.get(b.taskId);
          if (ip) endpoints.push({ taskId: b.taskId, nodeId, host: ip, port: port.TargetPort, local: true });
        } else if (b.addr) {
          endpoints.push({ taskId: b.taskId, nodeId: b.nodeId, host: b.addr, port: port.PublishedPort, local: false });
          peers.add(b.addr);
        }
      }
      const key = routeKey(port.Protocol, port.PublishedPort);
      routes.set(key, { key, protocol: port.Protocol, publishedPort: port.PublishedPort, serviceId: service.serviceId, endpoints, peers });
    }
  }
  return routes;
}

/** Strips the IPv4-mapped prefix Node puts on addresses accepted by a dual-stack socket. */
export function plainAddress(addr: string | undefined): string {
  return (addr ?? '').replace(/^::ffff:/, '');
}

/**
 * Round robin over one route's endpoints. Local tasks come first; other nodes are the fallback,
 * and a connection that another node forwarded is served only locally, so nothing loops.
 */
export class Balancer {
  private cursor = 0;
  endpoints: Endpoint[] = [];

  set(endpoints: Endpoint[]): void {
    this.endpoints = endpoints;
  }

  /** The order in which to try endpoints for one new connection (each at most once). */
  order(fromPeer: boolean): Endpoint[] {
    const local = this.endpoints.filter((e) => e.local);
    const remote = fromPeer ? [] : this.endpoints.filter((e) => !e.local);
    const turn = this.cursor++;
    return [...rotate(local, turn), ...rotate(remote, turn)];
  }
}

function rotate<T>(list: T[], turn: number): T[] {
  if (list.length === 0) return list;
  const start = turn % list.length;
  return [...list.slice(start), ...list.slice(0, start)];
}

interface Listener {
  route: MeshRoute;
  balancer: Balancer;
  server: Server;
  sockets: Set<Socket>;
}

function connectTo(endpoint: Endpoint, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true });
    const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
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
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  /** `bindHost` limits the listeners to one address (tests run several nodes on one machine). */
  constructor(opts: { docker: Dockerode; nodeId: string; log: Logger; bindHost?: string }) {
    this.docker = opts.docker;
    this.nodeId = opts.nodeId;
    this.log = opts.log;
    this.bindHost = opts.bindHost;
  }

  /** Converges the listeners and backends to the control plane's latest ingress list. */
  update(ingress: IngressList): Promise<void> {
    const run = this.queue.then(() => this.apply(ingress));
    this.queue = run.catch(() => undefined);
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

  private async apply(ingress: IngressList): Promise<void> {
    if (this.closed) return;
    if (ingress.some((s) => s.backends.some((b) => b.nodeId === this.nodeId))) await this.refreshLocalAddrs();
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
        this.reportFailure(route, `${route.protocol.toUpperCase()} is not supported by the routing mesh yet; publish it in host mode instead`);
        continue;
      }
      await this.openListener(route);
    }
  }

  /** Task ID → container address on its network, for the containers of this node. */
  private async refreshLocalAddrs(): Promise<void> {
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
    } catch (err) {
      // Keep the last known addresses: a hiccup of the engine should not drop every backend.
      this.log.warn('routing mesh: cannot list task containers; keeping the last known backends', { error: err });
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

  private async openListener(route: MeshRoute): Promise<void> {
    const balancer = new Balancer();
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
          ? `port ${route.publishedPort} is already in use on this host (EADDRINUSE); stop what holds it, the agent retries on its next update`
          : (err as Error).message;
      this.reportFailure(route, reason);
      server.close();
      return;
    }
    server.on('error', (err) => this.log.error(`routing mesh: listener ${route.key} failed`, { error: err }));
    this.failed.delete(route.key);
    this.listeners.set(route.key, listener);
    this.log.info(`routing mesh: listening on port ${route.key} for service ${route.serviceId}`, {
      backends: route.endpoints.length,
    });
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
    const fromPeer = listener.route.peers.has(plainAddress(client.remoteAddress));
    let upstream: Socket | undefined;
    for (const endpoint of listener.balancer.order(fromPeer)) {
      if (client.destroyed) return;
      try {
        upstream = await connectTo(endpoint, CONNECT_TIMEOUT_MS);
        break;
      } catch (err) {
        this.log.debug(`routing mesh: backend ${endpoint.host}:${endpoint.port} of ${listener.route.key} refused; trying the next`, {
          taskId: endpoint.taskId,
          error: err,
        });
      }
    }
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
