import { createServer, type Server } from 'node:http';
import type Dockerode from 'dockerode';
import type { Logger } from '../protocol/log.ts';
import { EXPOSITION_CONTENT_TYPE, Gauge, MetricRegistry } from '../protocol/metrics.ts';
import { ownedFilter } from './executor/labels.ts';

/** What the metrics read at scrape time: the engine's containers and the mesh's peers. */
export interface AgentObservables {
  docker: Dockerode;
  nodeId: string;
  peerHandshakes: () => Promise<Array<{ publicKey: string; at: number }>>;
}

/** The agent's series: counters kept as things happen, gauges read from the host at scrape time. */
export class AgentMetrics {
  readonly registry = new MetricRegistry();
  readonly assignments = this.registry.counter('swarm_agent_assignments_received_total', 'Assignment answers received from the control plane (a long-poll that returned them; not one that ended with nothing new).');
  readonly engineErrors = this.registry.counter('swarm_agent_engine_errors_total', 'Docker engine requests that failed, by HTTP status (or "connection" when the engine was not reached).');
  readonly logBytes = this.registry.counter('swarm_agent_log_bytes_relayed_total', 'Container log bytes relayed to the control plane for docker service logs.');

  /** Counts every failed engine request: docker-modem's dial is the one path all of dockerode's calls take. */
  watchEngine(docker: Dockerode): void {
    const modem = docker.modem as unknown as { dial(options: unknown, callback: (err: unknown, data: unknown) => void): unknown };
    const dial = modem.dial.bind(modem);
    modem.dial = (options, callback) =>
      dial(options, (err, data) => {
        if (err) this.engineErrors.inc({ status: String((err as { statusCode?: number }).statusCode ?? 'connection') });
        callback(err, data);
      });
  }

  async render(host: AgentObservables): Promise<string> {
    return this.registry.render(() => true, await hostGauges(host, Date.now()));
  }
}

async function hostGauges(host: AgentObservables, now: number): Promise<Gauge[]> {
  const containers = new Gauge('swarm_agent_containers', 'Task containers on this host, by engine state (running, exited, ...).');
  for (const c of await host.docker.listContainers({ all: true, filters: ownedFilter(host.nodeId) })) containers.inc({ state: c.State });
  const peers = await host.peerHandshakes();
  const peerCount = new Gauge('swarm_agent_mesh_peers', 'WireGuard peers of the overlay mesh.');
  peerCount.set({}, peers.length);
  const age = new Gauge('swarm_agent_mesh_peer_handshake_age_seconds', 'Seconds since the latest handshake with each mesh peer (+Inf: never).');
  for (const p of peers) age.set({ peer: p.publicKey }, p.at > 0 ? Math.max(0, now / 1000 - p.at) : Infinity);
  return [containers, peerCount, age];
}

/** `host:port`, `[v6]:port`: where the metrics listener binds. */
export function parseListenAddr(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[3]);
  if (!m || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * The metrics listener: plain HTTP, GET /metrics only, unauthenticated, so bind it to loopback (the
 * default suggestion) or a host-internal address a Prometheus on this host can reach.
 */
export function serveAgentMetrics(addr: { host: string; port: number }, metrics: AgentMetrics, host: AgentObservables, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: the metrics are at GET /metrics\n');
      return;
    }
    metrics.render(host).then(
      (body) => res.writeHead(200, { 'Content-Type': EXPOSITION_CONTENT_TYPE }).end(body),
      (err) => {
        log.warn('metrics scrape failed', { error: err });
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('metrics unavailable: the engine did not answer\n');
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
