/**
 * A node's view of the overlay mesh, for its assignments: the networks its tasks are on, and as
 * WireGuard peers the other live nodes with tasks on those networks, and those tasks' addresses. Routes are
 * per task address (/32), as Calico routes: the control plane gives every address, so a host
 * needs no address blocks of its own and a task keeps its address wherever its node is.
 */
import { and, eq, inArray, isNotNull, ne } from 'drizzle-orm';
import type { MeshPeer, MeshView, TaskAttachment } from '../../protocol/agent-api.ts';
import type { Reader } from '../db/database.ts';
import { clusters, HOLDING_STATES, networks, nodes, type TaskNetwork, type TaskState, tasks } from '../db/schema/index.ts';

const hostAddress = (cidr: string) => `${cidr.split('/')[0]}/32`;

/** A task's attachments with the aliases its service gave each network (`--network name=N,alias=x`). */
export function taskAttachments(held: TaskNetwork[] | null, specNetworks: Array<{ Target?: string; Aliases?: string[] }> | undefined): TaskAttachment[] {
  return (held ?? []).map((a) => ({
    networkId: a.networkId,
    address: a.address,
    aliases: specNetworks?.find((n) => n.Target === a.networkId)?.Aliases ?? [],
  }));
}

/**
 * `own` are the node's tasks as its answer already read them: a node with no task on a network
 * (most answers, on most clusters) costs one small read here, not a scan of the cluster's tasks.
 */
export async function meshView(db: Reader, clusterId: string, nodeId: string, own: Array<{ state: TaskState; networks: TaskNetwork[] | null }>): Promise<MeshView> {
  const mine = new Set(own.filter((t) => HOLDING_STATES.has(t.state)).flatMap((t) => (t.networks ?? []).map((n) => n.networkId)));
  const [cluster] = await db.select({ dataPath: clusters.dataPath }).from(clusters).where(eq(clusters.id, clusterId));
  const listenPort = cluster?.dataPath.DataPathPort ?? 51820;
  if (!mine.size) return { listenPort, networks: [], peers: [] };
  // Every address held in the cluster now: a task holds one from its assignment until it ends.
  const held = await db
    .select({ nodeId: tasks.nodeId, networks: tasks.networks })
    .from(tasks)
    .where(and(eq(tasks.clusterId, clusterId), isNotNull(tasks.networks), inArray(tasks.state, [...HOLDING_STATES])));
  const netRows = await db.select().from(networks).where(and(eq(networks.clusterId, clusterId), inArray(networks.id, [...mine])));
  const peerRows = await db
    .select({ id: nodes.id, description: nodes.description })
    .from(nodes)
    .where(and(eq(nodes.clusterId, clusterId), ne(nodes.id, nodeId), ne(nodes.state, 'down')));
  const peers: MeshPeer[] = [];
  for (const p of peerRows) {
    const allowedIps = held
      .filter((t) => t.nodeId === p.id)
      .flatMap((t) => (t.networks ?? []).filter((n) => mine.has(n.networkId)).map((n) => hostAddress(n.address)))
      .sort();
    // Only nodes with tasks on this node's networks are its peers: a node joining changes no one's.
    if (!p.description.wireguardPublicKey || !allowedIps.length) continue;
    peers.push({ nodeId: p.id, publicKey: p.description.wireguardPublicKey, endpoint: `${p.description.addr}:${listenPort}`, allowedIps });
  }
  return {
    listenPort,
    networks: netRows.map((n) => ({ id: n.id, name: n.name, subnet: n.subnet, gateway: n.gateway })),
    peers: peers.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)),
  };
}
