/**
 * The overlay data plane of one node, converged on every assignments answer like the routing mesh:
 *
 *   task 10.0.1.5 ─ bridge swl-<net> (proxy ARP) ─ /32 route ─ WireGuard <if> ═══ UDP ═══ peer host ─ … ─ task 10.0.1.7
 *
 * Each overlay network with a task here is a Docker bridge network with the overlay's subnet; a
 * remote task's address is a /32 route into the tunnel, and WireGuard's allowed IPs (the same
 * addresses) pick the peer and authenticate the source. The agent's chains keep networks apart.
 */
import type Dockerode from 'dockerode';
import type { MeshView, OverlayNetwork } from '../../protocol/agent-api.ts';
import type { Logger } from '../../protocol/log.ts';
import { DockerNetworks } from './docker-networks.ts';
import { enableForwarding, syncFirewall, syncRoutes, syncVirtualIps } from './host-network.ts';
import { type NetworkVips, reachableVips, remoteAddresses } from './plan.ts';
import { WireguardInterface } from './wireguard.ts';

const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));

const NO_MESH: MeshView = { listenPort: 0, networks: [], peers: [] };
/**
 * Every task report bumps the cluster's index, so answers come often and mostly with the same
 * view: an unchanged view is applied again only this long after the last pass (which repairs
 * drift, e.g. a rule someone deleted), instead of ten `ip`/`wg`/iptables runs per answer.
 */
const REAPPLY_UNCHANGED_MS = 60_000;

/** One update's outcome in its two lines; neither promise rejects, so either may go unwatched. */
export interface MeshUpdate {
  /** Why the virtual IP rules could not be written, once they are written or failed. */
  virtualIps: Promise<Error | undefined>;
  /** Why the host is not entirely as the view says after the full pass (a failed step, or a network still in use). */
  pass: Promise<Error | undefined>;
}

export class OverlayMesh {
  private readonly wireguard: WireguardInterface;
  private readonly networks: DockerNetworks;
  private view: MeshView = NO_MESH;
  private vips: NetworkVips[] = [];
  /** Whether the last pass set up a mesh: only then does an empty view take the interface down. */
  private active = false;
  /** The view the last successful pass applied, and when. */
  private applied: { key: string; at: number } | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** The virtual IPs' own line: they change with every task start and stop, the rest seldom. */
  private vipQueue: Promise<Error | undefined> = Promise.resolve(undefined);
  /** The virtual IP rules last written (their key). */
  private vipsApplied: string | undefined;
  /** The remote task addresses whose path (peer, firewall, route) the last full pass put in place. */
  private routed: ReadonlySet<string> = new Set();
  private closed = false;

  constructor(private readonly opts: { docker: Dockerode; nodeId: string; log: Logger; wireguardInterface: string; privateKeyFile: string }) {
    this.wireguard = new WireguardInterface(opts.wireguardInterface, opts.privateKeyFile, opts.log);
    this.networks = new DockerNetworks(opts.docker, opts.nodeId, opts.log);
  }

  /** The WireGuard peers and their latest handshakes, for the metrics. */
  peerHandshakes(): Promise<Array<{ publicKey: string; at: number }>> {
    return this.wireguard.latestHandshakes();
  }

  /**
   * Converges the host to the control plane's latest view and virtual IPs; one pass at a time, in
   * order. What failed is the caller's to log and retry (the same view again is cheap: what is in
   * place is skipped).
   */
  update(view: MeshView | undefined, vips: NetworkVips[] = []): MeshUpdate {
    this.view = view ?? NO_MESH;
    this.vips = vips;
    // The VIP rules first and on their own: a task leaving a VIP must stop getting connections
    // within its drain, not after a whole mesh pass (several seconds on a loaded host).
    this.vipQueue = this.vipQueue.then(() => this.applyVips()).then(() => undefined, asError);
    const pass = this.enqueue(() => this.apply(this.view, this.vips)).then(
      (complete) => (complete ? undefined : new Error('mesh: a network no task here needs is still in use (its last container is stopping)')),
      asError,
    );
    return { virtualIps: this.vipQueue, pass };
  }

  /**
   * The executor asks before creating a task's container: its networks must exist on the engine.
   * A network the view does not name yet is an error the task's next step retries.
   */
  ensureNetworks(networkIds: string[]): Promise<OverlayNetwork[]> {
    return this.enqueue(async () => {
      let created = false;
      const ensured: OverlayNetwork[] = [];
      for (const id of networkIds) {
        const network = this.view.networks.find((n) => n.id === id);
        if (!network) throw new Error(`overlay network ${id} is not in this node's mesh yet`);
        created = (await this.networks.ensure(network)) || created;
        ensured.push(network);
      }
      // A network made again (say the engine lost it) has a new bridge without proxy ARP: a full pass now.
      if (created) {
        this.applied = undefined;
        await this.apply(this.view, this.vips);
      }
      return ensured;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  /** Writes the VIP rules of the latest view when they differ from the last written (once per burst). */
  private async applyVips(): Promise<void> {
    const view = this.view;
    const vips = reachableVips(this.vips, view, this.routed);
    const key = JSON.stringify([view.networks, vips]);
    if (this.closed || key === this.vipsApplied || (!view.networks.length && !this.vipsApplied)) return;
    await syncVirtualIps(view, vips, this.opts.wireguardInterface);
    this.vipsApplied = key;
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Answers whether the host is entirely as the view says. */
  private async apply(view: MeshView, vips: NetworkVips[]): Promise<boolean> {
    if (this.closed) return true;
    const key = JSON.stringify([view, vips]);
    if (this.applied?.key === key && Date.now() - this.applied.at < REAPPLY_UNCHANGED_MS) return true;
    this.applied = undefined;
    // A network still in use (its last container stopping) is removed by a later pass instead.
    const complete = await this.converge(view, vips);
    if (complete) this.applied = { key, at: Date.now() };
    return complete;
  }

  /** Answers whether the host is entirely as the view says. */
  private async converge(view: MeshView, vips: NetworkVips[]): Promise<boolean> {
    const iface = this.opts.wireguardInterface;
    if (!view.networks.length && !view.address) {
      const clean = await this.networks.removeUnused(new Set());
      if (this.active) await this.wireguard.remove();
      if (this.active) await syncVirtualIps(view, [], this.opts.wireguardInterface);
      this.vipsApplied = undefined;
      this.routed = new Set();
      this.active = false;
      return clean;
    }
    // Gone peers first, before the slower steps: taking access away needs no rule in place. (An
    // interface that vanished fails here harmlessly; ensure() below makes it again.)
    if (this.active) await this.wireguard.removeStalePeers(view.peers).catch(() => undefined);
    this.active = true;
    await this.wireguard.ensure(view.listenPort);
    await this.wireguard.syncAddress(view.address);
    for (const n of view.networks) await this.networks.ensure(n);
    // Isolation before any peer: no packet crosses the tunnel before the rules are in place.
    await syncFirewall(iface, view, vips);
    await enableForwarding(view);
    await this.wireguard.syncPeers(view.peers);
    await syncRoutes(iface, view, vips, this.opts.log);
    this.routed = remoteAddresses(view);
    // Written again (drift repair, and the new remote backends now reachable), in the VIPs' own
    // line so a newer set written meanwhile stays.
    const rewrite = this.vipQueue.then(() => {
      this.vipsApplied = undefined;
      return this.applyVips();
    });
    this.vipQueue = rewrite.then(() => undefined, asError);
    await rewrite;
    return this.networks.removeUnused(new Set(view.networks.map((n) => n.id)));
  }
}
