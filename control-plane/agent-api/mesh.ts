/**
 * A node's view of the overlay mesh, for its assignments: the networks its tasks are on, and as
 * WireGuard peers the other live nodes with tasks on those networks, and those tasks' addresses. Routes are
 * per task address (/32), as Calico routes: the control plane gives every address, so a host
 * needs no address blocks of its own and a task keeps its address wherever its node is.
 */
import { and, eq, inArray, isNotNull, ne } from 'drizzle-orm';
import type { MeshPeer, MeshView, TaskAttachment } from '../../protocol/agent-api.ts';
import { inIds, type Reader } from '../db/database.ts';
import { addressOf } from '../swarm/address-space.ts';
import { clusters, HOLDING_STATES, networks, nodes, type TaskNetwork, type TaskState, tasks } from '../db/schema/index.ts';
import { groupBy } from '../group-by.ts';

const hostAddress = (cidr: string) => `${addressOf(cidr)}/32`;
/** `addr:port` as WireGuard takes it: an IPv6 address in brackets. */
const endpoint = (addr: string, port: number) => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

/** A task's attachments with the aliases its service gave each network (`--network name=N,alias=x`). */
export function taskAttachments(
  held: TaskNetwork[] | null,
  specNetworks: Array<{ Target?: string; Aliases?: string[] }> | undefined,
  ingressNetwork: string | undefined,
): TaskAttachment[] {
  return (held ?? []).map((a) => ({
    networkId: a.networkId,
    address: a.address,
    aliases: specNetworks?.find((n) => n.Target === a.networkId)?.Aliases ?? [],
    ...(a.networkId === ingressNetwork ? { ingress: true as const } : {}),
  }));
}

/** The cluster's ingress network, the routing mesh's. */
export async function ingressNetworkId(db: Reader, clusterId: string): Promise<string | undefined> {
  const [row] = await db.select({ id: networks.id }).from(networks).where(and(eq(networks.clusterId, clusterId), eq(networks.ingress, true)));
  return row?.id;
}

type OwnTasks = ReadonlyMap<string, ReadonlyArray<{ state: TaskState; networks: TaskNetwork[] | null }>>;

/**
 * Each node's overlay mesh, for a batch of nodes at once. `own` are each node's tasks as its answer
 * already read them: a batch with no task on a network (most answers, on most clusters) costs one
 * small read here, not a scan of the cluster's tasks; otherwise the cluster's held addresses and
 * nodes are read once for the whole batch.
 *
 * While some service publishes an ingress port (`ingress` is then the ingress network, as the
 * answer already read it; undefined otherwise), every node's routing mesh may connect to that
 * service's tasks anywhere: the node's own mesh address is in its view, the nodes with tasks on
 * the ingress network are its peers (with those tasks' addresses), and a node with such tasks
 * takes every other node as a peer (with its mesh address) for the replies.
 */
export async function meshViews(db: Reader, clusterId: string, own: OwnTasks, ingress: string | undefined): Promise<Map<string, MeshView>> {
  const [cluster] = await db.select({ dataPath: clusters.dataPath }).from(clusters).where(eq(clusters.id, clusterId));
  const listenPort = cluster?.dataPath.DataPathPort ?? 51820;
  const nodeIds = [...own.keys()];
  const addresses = new Map<string, string>();
  if (ingress) {
    const rows = await db.select({ id: nodes.id, meshAddress: nodes.meshAddress }).from(nodes).where(inIds(nodes.id, nodeIds));
    for (const r of rows) if (r.meshAddress) addresses.set(r.id, hostAddress(r.meshAddress));
  }
  const mine = new Map(nodeIds.map((id) => [id, new Set(own.get(id)!.filter((t) => HOLDING_STATES.has(t.state)).flatMap((t) => (t.networks ?? []).map((n) => n.networkId)))]));
  const views = new Map<string, MeshView>();
  const meshed = nodeIds.filter((id) => mine.get(id)!.size || addresses.has(id));
  for (const id of nodeIds) views.set(id, { listenPort, networks: [], peers: [] });
  if (!meshed.length) return views;
  // Every address held in the cluster now, by node: a task holds one from its assignment until it ends.
  const heldRows = await db
    .select({ nodeId: tasks.nodeId, networks: tasks.networks })
    .from(tasks)
    .where(and(eq(tasks.clusterId, clusterId), isNotNull(tasks.networks), inArray(tasks.state, [...HOLDING_STATES])));
  const held = groupBy(heldRows, (t) => t.nodeId!);
  const joined = [...new Set(meshed.flatMap((id) => [...mine.get(id)!]))];
  const netRows = joined.length ? await db.select().from(networks).where(and(eq(networks.clusterId, clusterId), inArray(networks.id, joined))) : [];
  const peerRows = await db
    .select({ id: nodes.id, description: nodes.description, meshAddress: nodes.meshAddress })
    .from(nodes)
    .where(and(eq(nodes.clusterId, clusterId), ne(nodes.state, 'down')));
  for (const nodeId of meshed) {
    const address = addresses.get(nodeId);
    const its = mine.get(nodeId)!;
    // The networks whose remote addresses this node routes to: its own, and ingress for its routing
    // mesh (only with a mesh address to send from).
    const reached = new Set(its);
    if (address && ingress) reached.add(ingress);
    const servesIngress = address !== undefined && ingress !== undefined && its.has(ingress);
    const peers: MeshPeer[] = [];
    for (const p of peerRows) {
      if (p.id === nodeId) continue;
      const allowedIps = (held.get(p.id) ?? []).flatMap((t) => (t.networks ?? []).filter((n) => reached.has(n.networkId)).map((n) => hostAddress(n.address)));
      // Replies of this node's ingress tasks to the peer's routing mesh.
      if (servesIngress && p.meshAddress) allowedIps.push(hostAddress(p.meshAddress));
      // Only nodes this node exchanges packets with are its peers: a node joining changes no one's.
      if (!p.description.wireguardPublicKey || !allowedIps.length) continue;
      peers.push({ nodeId: p.id, publicKey: p.description.wireguardPublicKey, endpoint: endpoint(p.description.addr, listenPort), allowedIps: allowedIps.sort() });
    }
    views.set(nodeId, {
      listenPort,
      ...(address ? { address } : {}),
      networks: netRows.filter((n) => its.has(n.id)).map((n) => ({ id: n.id, name: n.name, subnet: n.subnet, gateway: n.gateway })),
      peers: peers.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)),
    });
  }
  return views;
}
