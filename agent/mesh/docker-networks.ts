/**
 * Each overlay network with a task here is a bridge network on the host's own engine with the
 * overlay's subnet and gateway: Docker then gives a task its exact address (`--ip`) and its
 * aliases, and the agent routes between hosts. No masquerade: tasks keep their own addresses
 * across the tunnel. Only networks carrying our labels are ever removed.
 */
import type Dockerode from 'dockerode';
import type { OverlayNetwork } from '../../protocol/agent-api.ts';
import type { Logger } from '../../protocol/log.ts';
import { engineStatus } from '../docker.ts';
import { MESH_NETWORK_LABEL, MESH_NODE_LABEL, overlayBridgeName, overlayNetworkName } from './names.ts';

export function networkCreateOptions(n: OverlayNetwork, nodeId: string) {
  return {
    Name: overlayNetworkName(n.id),
    Driver: 'bridge',
    CheckDuplicate: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Options: {
      'com.docker.network.bridge.name': overlayBridgeName(n.id),
      'com.docker.network.bridge.enable_ip_masquerade': 'false',
    },
    Labels: { [MESH_NETWORK_LABEL]: n.id, [MESH_NODE_LABEL]: nodeId, 'swarmlet.mesh.network.name': n.name },
  };
}

export class DockerNetworks {
  constructor(
    private readonly docker: Dockerode,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  /** Our networks on this engine: overlay network ID → Docker network ID. */
  async ours(): Promise<Map<string, string>> {
    const list = await this.docker.listNetworks({ filters: { label: [`${MESH_NODE_LABEL}=${this.nodeId}`] } });
    const found = new Map<string, string>();
    for (const n of list) {
      const id = n.Labels?.[MESH_NETWORK_LABEL];
      if (id && n.Labels?.[MESH_NODE_LABEL] === this.nodeId) found.set(id, n.Id);
    }
    return found;
  }

  /** Answers whether it had to create the network (its bridge is new: its settings must be applied). */
  async ensure(n: OverlayNetwork): Promise<boolean> {
    if ((await this.ours()).has(n.id)) return false;
    try {
      await this.create(n);
      return true;
    } catch (err) {
      // 409: one of that name exists (made meanwhile by another caller, or a leftover); or one of its pool.
      const named = engineStatus(err) === 409;
      if (!named && !/overlaps/i.test((err as Error).message)) throw err;
      if (!(await this.removeLeftovers(n))) {
        if (named) return false;
        throw err;
      }
      await this.create(n);
      return true;
    }
  }

  private async create(n: OverlayNetwork): Promise<void> {
    await this.docker.createNetwork(networkCreateOptions(n, this.nodeId));
    this.log.info('mesh: created network', { network: n.name, subnet: n.subnet, bridge: overlayBridgeName(n.id) });
  }

  /**
   * Removes the networks of n (by ID or subnet) that a former node left on this engine (a host that
   * joined again with a new state directory, or a swarm made anew): ours by label, another node's,
   * no container attached. The engine refuses a second network of the same name or pool ("Pool
   * overlaps"), so without this the host could not run a task on the network again. Answers
   * whether any went.
   */
  private async removeLeftovers(n: OverlayNetwork): Promise<boolean> {
    let removed = false;
    for (const net of await this.docker.listNetworks({ filters: { label: [MESH_NETWORK_LABEL] } })) {
      if (net.Labels?.[MESH_NODE_LABEL] === this.nodeId) continue;
      if (net.Labels?.[MESH_NETWORK_LABEL] !== n.id && !net.IPAM?.Config?.some((c) => c.Subnet === n.subnet)) continue;
      const network = this.docker.getNetwork(net.Id);
      if (Object.keys((await network.inspect()).Containers ?? {}).length) continue;
      await network.remove();
      this.log.warn('mesh: removed a network another node left on this engine', { network: net.Name, subnet: n.subnet, node: net.Labels?.[MESH_NODE_LABEL] });
      removed = true;
    }
    return removed;
  }

  /**
   * Removes our networks no task needs; one still in use (a container stopping) waits for the next
   * pass. Answers whether none is left over.
   */
  async removeUnused(wanted: Set<string>): Promise<boolean> {
    let clean = true;
    for (const [overlayId, dockerId] of await this.ours()) {
      if (wanted.has(overlayId)) continue;
      try {
        await this.docker.getNetwork(dockerId).remove();
        this.log.info('mesh: removed network (no task here needs it)', { network: overlayId });
      } catch (err) {
        clean = false;
        this.log.debug('mesh: network still in use; will retry', { network: overlayId, error: err });
      }
    }
    return clean;
  }
}
