/**
 * Task addresses on overlay networks, allocated by the control plane in the pass that assigns the
 * task, so the database is the one record of who is where: unique in the network, held while the
 * task holds its node (assigned … running), free again once it has ended.
 */
import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { HOLDING_STATES, type NetworkRow, networks, type TaskNetwork, tasks } from '../db/schema/index.ts';
import { formatAddress, parseSubnet } from '../swarm/subnets.ts';
import type { ServiceRow } from './cluster-state.ts';
import type { Pass } from './pass.ts';
import { meshChanged } from '../swarm/mesh-changes.ts';

export interface AddressPlan {
  /** The addresses each placed task gets, one per network of its spec. */
  addresses: Map<string, TaskNetwork[]>;
  /** Tasks that cannot be given an address, and why: they stay pending. */
  refused: Map<string, string>;
}

/** Addresses held now, per network: the network and gateway addresses are never a task's. */
async function addressesInUse(pass: Pass, nets: NetworkRow[]): Promise<Map<string, Set<number>>> {
  const used = new Map(nets.map((n) => [n.id, new Set([parseSubnet(n.subnet).base, ipOf(n.gateway)])]));
  const rows = await pass.tx
    .select({ networks: tasks.networks })
    .from(tasks)
    .where(and(eq(tasks.clusterId, pass.clusterId), isNotNull(tasks.networks), inArray(tasks.state, [...HOLDING_STATES])));
  for (const row of rows) for (const a of row.networks ?? []) used.get(a.networkId)?.add(ipOf(a.address));
  return used;
}

const ipOf = (address: string) => address.split('/')[0]!.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/** Gives each placed task an address on each of its service's networks, lowest free first. */
export async function planAddresses(pass: Pass, placed: Array<{ taskId: string; service: ServiceRow }>): Promise<AddressPlan> {
  const plan: AddressPlan = { addresses: new Map(), refused: new Map() };
  const wanted = placed.filter((p) => p.service.spec.TaskTemplate.Networks?.length);
  if (!wanted.length) return plan;
  const nets = await pass.tx.select().from(networks).where(eq(networks.clusterId, pass.clusterId));
  const byId = new Map(nets.map((n) => [n.id, n]));
  const used = await addressesInUse(pass, nets);
  for (const { taskId, service } of wanted) {
    const given: TaskNetwork[] = [];
    for (const attachment of service.spec.TaskTemplate.Networks ?? []) {
      const network = attachment.Target ? byId.get(attachment.Target) : undefined;
      if (!network) {
        plan.refused.set(taskId, `network ${attachment.Target} no longer exists`);
        break;
      }
      const subnet = parseSubnet(network.subnet);
      const taken = used.get(network.id)!;
      const last = subnet.base + 2 ** (32 - subnet.prefix) - 2; // before the broadcast address
      let addr = subnet.base + 1;
      while (addr <= last && taken.has(addr)) addr++;
      if (addr > last) {
        plan.refused.set(taskId, `no free address left in network ${network.name} (${network.subnet})`);
        break;
      }
      taken.add(addr);
      given.push({ networkId: network.id, address: `${formatAddress(addr)}/${subnet.prefix}` });
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
