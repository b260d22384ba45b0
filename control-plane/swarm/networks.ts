/**
 * Overlay networks: `docker network create -d overlay`, `rm`, the predefined `ingress` network, and
 * services' `--network` targets resolved to network IDs, as dockerd stores them.
 */
import { and, eq } from 'drizzle-orm';
import { bumpIndex, type Reader, type Tx } from '../db/database.ts';
import { type DataPathSettings, type NetworkRow, networks, services } from '../db/schema/index.ts';
import { ApiError, conflict, invalid } from '../errors.ts';
import { recordEvent } from '../events/record.ts';
import { newId } from '../ids.ts';
import { findNetwork } from './lookup.ts';
import type { ServiceSpec } from './service-spec.ts';
import { allocateSubnet, formatAddress, formatSubnet, overlaps, parseAddressIn, parseSubnet, type Subnet } from './subnets.ts';

export interface NetworkRequest {
  name: string;
  subnet?: string;
  gateway?: string;
  attachable: boolean;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
}

async function subnetsInUse(tx: Reader, clusterId: string): Promise<Array<{ name: string; subnet: Subnet }>> {
  const rows = await tx.select({ name: networks.name, subnet: networks.subnet }).from(networks).where(eq(networks.clusterId, clusterId));
  return rows.map((r) => ({ name: r.name, subnet: parseSubnet(r.subnet) }));
}

/** A subnet for a new network: the one asked for, if free, else the pool's next free one. */
async function subnetFor(tx: Tx, clusterId: string, dataPath: DataPathSettings, asked: string | undefined): Promise<Subnet> {
  const used = await subnetsInUse(tx, clusterId);
  if (!asked) return allocateSubnet(dataPath.DefaultAddrPool, dataPath.SubnetSize, used.map((u) => u.subnet));
  const subnet = parseSubnet(asked);
  const clash = used.find((u) => overlaps(u.subnet, subnet));
  if (clash) throw conflict(`subnet ${formatSubnet(subnet)} overlaps network ${clash.name}'s ${formatSubnet(clash.subnet)}`);
  return subnet;
}

async function insertNetwork(tx: Tx, clusterId: string, request: NetworkRequest, subnet: Subnet, ingress: boolean, now: number): Promise<NetworkRow> {
  const gateway = request.gateway ? parseAddressIn(request.gateway, subnet, 'gateway') : subnet.base + 1;
  const version = await bumpIndex(tx, clusterId);
  const [row] = await tx
    .insert(networks)
    .values({
      id: newId(),
      clusterId,
      name: request.name,
      subnet: formatSubnet(subnet),
      gateway: formatAddress(gateway),
      attachable: request.attachable,
      internal: request.internal,
      ingress,
      labels: request.labels,
      options: request.options,
      version,
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  await recordEvent(tx, clusterId, now, { type: 'network', action: 'create', actorId: row!.id, attributes: { name: request.name, type: 'overlay' } });
  return row!;
}

export async function createNetwork(tx: Tx, clusterId: string, dataPath: DataPathSettings, request: NetworkRequest, now: number): Promise<NetworkRow> {
  const existing = await tx.query.networks.findFirst({ where: and(eq(networks.clusterId, clusterId), eq(networks.name, request.name)) });
  if (existing) throw conflict(`network with name ${request.name} already exists`);
  return insertNetwork(tx, clusterId, request, await subnetFor(tx, clusterId, dataPath, request.subnet), false, now);
}

/** The predefined routing-mesh network `docker network ls` shows in every swarm (made by `docker swarm init`). */
export async function createIngressNetwork(tx: Tx, clusterId: string, dataPath: DataPathSettings, now: number): Promise<void> {
  const request = { name: 'ingress', attachable: false, internal: false, labels: {}, options: {} };
  await insertNetwork(tx, clusterId, request, await subnetFor(tx, clusterId, dataPath, undefined), true, now);
}

/** The services whose tasks join a network. */
async function servicesOn(tx: Reader, network: NetworkRow): Promise<string[]> {
  const rows = await tx.select({ name: services.name, spec: services.spec }).from(services).where(eq(services.clusterId, network.clusterId));
  return rows.filter((s) => (s.spec.TaskTemplate.Networks ?? []).some((n) => n.Target === network.id)).map((s) => s.name);
}

export async function removeNetwork(tx: Tx, network: NetworkRow, now: number): Promise<void> {
  if (network.ingress) throw new ApiError('precondition', 'the ingress network is the routing mesh\'s and cannot be removed');
  const users = await servicesOn(tx, network);
  if (users.length) throw conflict(`network ${network.name} is in use by service ${users.join(', ')}; remove the service or its --network first`);
  await bumpIndex(tx, network.clusterId);
  await tx.delete(networks).where(eq(networks.id, network.id));
  await recordEvent(tx, network.clusterId, now, { type: 'network', action: 'remove', actorId: network.id, attributes: { name: network.name, type: 'overlay' } });
}

/**
 * A service spec with its networks' targets (name, ID or ID prefix, as the CLI sends them)
 * resolved to network IDs, as dockerd stores them; an unknown network is 404, and the ingress
 * network is the routing mesh's alone.
 */
export async function resolveServiceNetworks(tx: Reader, clusterId: string, spec: ServiceSpec): Promise<ServiceSpec> {
  const attachments = spec.TaskTemplate.Networks;
  if (!attachments?.length) return spec;
  const resolved = [];
  const seen = new Set<string>();
  for (const a of attachments) {
    if (typeof a.Target !== 'string' || a.Target === '') throw invalid('TaskTemplate.Networks[].Target must name a network');
    const network = await findNetwork(tx, clusterId, a.Target);
    if (network.ingress) throw invalid('service cannot be explicitly attached to the ingress network; publish a port (-p) instead');
    if (seen.has(network.id)) throw invalid(`network ${network.name} is given twice`);
    seen.add(network.id);
    resolved.push({ ...a, Target: network.id });
  }
  return { ...spec, TaskTemplate: { ...spec.TaskTemplate, Networks: resolved } };
}
