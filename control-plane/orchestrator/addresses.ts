/**
 * Addresses on overlay networks, allocated by the control plane in the pass that assigns the task,
 * so the database is the one record of who is where: unique in the network, held while the task
 * holds its node (assigned … running), free again once it has ended.
 *
 * The ingress network is the routing mesh's, as in Docker: a task of a service publishing ingress
 * ports gets an address on it besides its own networks, and every node gets one of its own (its
 * "mesh address"), the source of its routing mesh's connections to tasks on other nodes.
 */
import { and, eq, sql } from 'drizzle-orm';
import { type NetworkRow, networks, type TaskNetwork } from '../db/schema/index.ts';
import { addressesInUse, ipOf, takeAddress } from '../swarm/address-space.ts';
import { publishesIngress } from '../swarm/ingress-ports.ts';
import type { ServiceRow } from './cluster-state.ts';
import type { Pass } from './pass.ts';
import { meshChanged } from '../swarm/mesh-changes.ts';

export interface AddressPlan {
  /** The addresses each placed task gets, one per network of its spec (and ingress last). */
  addresses: Map<string, TaskNetwork[]>;
  /** Tasks that cannot be given an address, and why: they stay pending. */
  refused: Map<string, string>;
}

/** The networks a service's tasks are on: those of its spec, then ingress when it publishes a port there. */
function networksOf(service: ServiceRow, ingress: NetworkRow | undefined): Array<string | undefined> {
  const own = (service.spec.TaskTemplate.Networks ?? []).map((n) => n.Target);
  return publishesIngress(service) && ingress ? [...own, ingress.id] : own;
}

/** Gives each placed task an address on each of its service's networks, lowest free first. */
export async function planAddresses(pass: Pass, placed: Array<{ taskId: string; service: ServiceRow }>): Promise<AddressPlan> {
  const plan: AddressPlan = { addresses: new Map(), refused: new Map() };
  const wanted = placed.filter((p) => p.service.spec.TaskTemplate.Networks?.length || publishesIngress(p.service));
  if (!wanted.length) return plan;
  const nets = await pass.tx.select().from(networks).where(eq(networks.clusterId, pass.clusterId));
  const byId = new Map(nets.map((n) => [n.id, n]));
  const used = await addressesInUse(pass.tx, pass.clusterId, nets);
  const ingress = nets.find((n) => n.ingress);
  for (const { taskId, service } of wanted) {
    const given: TaskNetwork[] = [];
    for (const target of networksOf(service, ingress)) {
      const network = target ? byId.get(target) : undefined;
      if (!network) {
        plan.refused.set(taskId, `network ${target} no longer exists`);
        break;
      }
      const address = takeAddress(network, used.get(network.id)!);
      if (!address) {
        plan.refused.set(taskId, `no free address left in network ${network.name} (${network.subnet})`);
        break;
      }
      given.push({ networkId: network.id, address });
    }
    if (!plan.refused.has(taskId)) plan.addresses.set(taskId, given);
    // A refused task gives back what it took on its other networks.
    else for (const g of given) used.get(g.networkId)?.delete(ipOf(g.address));
  }
  return plan;
}

/** Writes the planned addresses, one statement for all. */
export async function writeAddresses(pass: Pass, plan: AddressPlan): Promise<void> {
  if (!plan.addresses.size) return;
  // Every node with a task on these networks now routes to the new addresses.
  await meshChanged(pass.tx, pass.clusterId, await pass.version());
  const rows = sql.join(
    [...plan.addresses].map(([id, nets]) => sql`(${id}, ${JSON.stringify(nets)})`),
    sql`, `,
  );
  await pass.tx.run(sql`update tasks set networks = m.column2 from (values ${rows}) as m where tasks.id = m.column1`);
}

/**
 * Gives every node without one its mesh address on the ingress network; a node keeps it until it
 * is removed. While the ingress network is full a new node has none: its routing mesh then
 * reaches only its own tasks.
 */
export async function addressNodes(pass: Pass): Promise<void> {
  const unaddressed = pass.state.nodes.filter((n) => !n.meshAddress);
  if (!unaddressed.length) return;
  const [ingress] = await pass.tx
    .select()
    .from(networks)
    .where(and(eq(networks.clusterId, pass.clusterId), eq(networks.ingress, true)));
  if (!ingress) return;
  const taken = (await addressesInUse(pass.tx, pass.clusterId, [ingress])).get(ingress.id)!;
  const given = unaddressed.flatMap((node) => {
    const address = takeAddress(ingress, taken);
    return address ? [{ node, address }] : [];
  });
  if (!given.length) return;
  const version = await pass.version();
  const rows = sql.join(
    given.map(({ node, address }) => sql`(${node.id}, ${address})`),
    sql`, `,
  );
  await pass.tx.run(sql`update nodes set mesh_address = m.column2 from (values ${rows}) as m where nodes.id = m.column1`);
  for (const { node, address } of given) node.meshAddress = address;
  // Only a routing mesh that is in use reaches nodes by their mesh addresses.
  if (pass.state.services.some(publishesIngress)) await meshChanged(pass.tx, pass.clusterId, version);
}
