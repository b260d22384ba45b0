/**
 * Where the routing mesh sends one connection: the backends of a published port, their turn, and
 * which of them failed lately. Pure logic and one connect race, unit-tested without an engine.
 *
 * Every running task of the service is a backend, wherever it runs, as with Docker's IPVS: the
 * connection goes straight to the task's address on the ingress network, through the WireGuard
 * mesh when the task is on another node (no second proxy there, no plain TCP between hosts).
 *
 * A backend that fails is ejected for a while (passive outlier detection): one that refused is
 * skipped alone; a node that does not answer at all within a second is skipped whole, since a
 * host cut off or dead drops every packet and would cost each connection a timeout. Meanwhile a
 * connection never waits on one backend: when the first has not answered within a short hedge
 * delay the next is tried beside it, and the first to connect wins.
 */
import { connect, type Socket } from 'node:net';
import type { IngressService } from '../protocol/agent-api.ts';
import type { PortConfig } from '../protocol/task-spec.ts';

/** How long one connection attempt may take before the connection is given up on that backend. */
export const CONNECT_TIMEOUT_MS = 3_000;
/** A remote backend still connecting after this long makes its node suspect: ejected. */
export const UNREACHABLE_AFTER_MS = 1_000;
/** How long a connection waits on one backend before trying the next beside it. */
export const HEDGE_MS = 150;
/** How long a failed backend (or node) is skipped; then it is tried again. */
export const EJECT_MS = 2_000;

/** Where one connection can go: a task's address and target port. */
export interface Endpoint {
  taskId: string;
  nodeId: string;
  host: string;
  port: number;
  /** The task runs on this node (reached over its bridge, not the mesh). */
  local: boolean;
}

/** One published port as this node serves it. */
export interface MeshRoute {
  key: string;
  protocol: PortConfig['Protocol'];
  publishedPort: number;
  serviceId: string;
  endpoints: Endpoint[];
}

export const routeKey = (protocol: string, port: number) => `${port}/${protocol}`;

/**
 * The routes this node serves, from the control plane's ingress list. A task is reached at its
 * ingress address; one without (started before its service published a port) only by its own
 * node, at its container's address (`localAddrs`), and is left out until that is known.
 */
export function meshRoutes(ingress: IngressService[], nodeId: string, localAddrs: ReadonlyMap<string, string>): Map<string, MeshRoute> {
  const routes = new Map<string, MeshRoute>();
  for (const service of ingress) {
    for (const port of service.ports) {
      if (port.PublishMode !== 'ingress' || !port.PublishedPort) continue;
      const endpoints: Endpoint[] = [];
      for (const b of service.backends) {
        const local = b.nodeId === nodeId;
        const host = b.address ?? (local ? localAddrs.get(b.taskId) : undefined);
        if (host) endpoints.push({ taskId: b.taskId, nodeId: b.nodeId, host, port: port.TargetPort, local });
      }
      const key = routeKey(port.Protocol, port.PublishedPort);
      routes.set(key, { key, protocol: port.Protocol, publishedPort: port.PublishedPort, serviceId: service.serviceId, endpoints });
    }
  }
  return routes;
}

/** Backends and nodes that failed lately, each skipped until its ejection ends. */
export class Ejections {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ejectMs = EJECT_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Refused or reset: that backend alone. */
  refused(e: Endpoint): void {
    this.until.set(endpointKey(e), this.now() + this.ejectMs);
  }

  /** No answer at all from another node: every backend there. */
  unreachable(e: Endpoint): void {
    if (!e.local) this.until.set(nodeKey(e), this.now() + this.ejectMs);
    else this.refused(e);
  }

  /** It answered: whatever was said of it and its node is void. */
  connected(e: Endpoint): void {
    this.until.delete(endpointKey(e));
    this.until.delete(nodeKey(e));
  }

  isEjected(e: Endpoint): boolean {
    const now = this.now();
    return [endpointKey(e), nodeKey(e)].some((key) => {
      const until = this.until.get(key);
      if (until === undefined) return false;
      if (until > now) return true;
      this.until.delete(key);
      return false;
    });
  }
}

const endpointKey = (e: Endpoint) => `${e.host}:${e.port}`;
const nodeKey = (e: Endpoint) => `node:${e.nodeId}`;

/** Round robin over a route's backends; ejected ones go last (tried only if all else fails). */
export class Balancer {
  private cursor = 0;
  endpoints: Endpoint[] = [];

  constructor(readonly ejections = new Ejections()) {}

  set(endpoints: Endpoint[]): void {
    this.endpoints = endpoints;
  }

  /** The order in which to try endpoints for one new connection (each at most once). */
  order(): Endpoint[] {
    const turn = rotate(this.endpoints, this.cursor++);
    const ejected = turn.filter((e) => this.ejections.isEjected(e));
    return ejected.length ? [...turn.filter((e) => !ejected.includes(e)), ...ejected] : turn;
  }
}

function rotate<T>(list: T[], turn: number): T[] {
  if (list.length === 0) return list;
  const start = turn % list.length;
  return [...list.slice(start), ...list.slice(0, start)];
}

/** What the race needs of a connection attempt (a real TCP connect; a fake in unit tests). */
export type Connector = (endpoint: Endpoint) => Promise<Socket>;

export function tcpConnector(timeoutMs = CONNECT_TIMEOUT_MS): Connector {
  return (endpoint) =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true });
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
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

/** Errors that say the host, not the task, is out of reach. */
const UNREACHABLE = new Set(['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);

/**
 * Connects to the first endpoint of `order` that answers, starting the next attempt beside the
 * ones under way every `hedgeMs` or at once when one fails; losers are closed. Failures and slow
 * nodes are recorded in `ejections`. Undefined when none accepted.
 */
export function raceConnect(
  order: Endpoint[],
  connector: Connector,
  ejections: Ejections,
  opts: { hedgeMs?: number; unreachableAfterMs?: number } = {},
): Promise<{ socket: Socket; endpoint: Endpoint } | undefined> {
  const hedgeMs = opts.hedgeMs ?? HEDGE_MS;
  const unreachableAfterMs = opts.unreachableAfterMs ?? UNREACHABLE_AFTER_MS;
  return new Promise((resolve) => {
    let next = 0;
    let pending = 0;
    let done = false;
    let hedge: NodeJS.Timeout | undefined;
    const finish = (result: { socket: Socket; endpoint: Endpoint } | undefined) => {
      done = true;
      clearTimeout(hedge);
      resolve(result);
    };
    const launch = () => {
      clearTimeout(hedge);
      if (done) return;
      if (next >= order.length) {
        if (pending === 0) finish(undefined);
        return;
      }
      const endpoint = order[next++]!;
      pending++;
      const slow = setTimeout(() => ejections.unreachable(endpoint), unreachableAfterMs);
      connector(endpoint).then(
        (socket) => {
          clearTimeout(slow);
          pending--;
          ejections.connected(endpoint);
          if (done) socket.destroy();
          else finish({ socket, endpoint });
        },
        (err: NodeJS.ErrnoException) => {
          clearTimeout(slow);
          pending--;
          if (UNREACHABLE.has(err.code ?? '')) ejections.unreachable(endpoint);
          else ejections.refused(endpoint);
          launch();
        },
      );
      hedge = setTimeout(launch, hedgeMs);
    };
    launch();
  });
}
