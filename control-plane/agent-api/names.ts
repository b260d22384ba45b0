/**
 * A node's names view, for its DNS server: for each overlay network its tasks are on, the names a
 * container on that network resolves, as Docker's embedded DNS resolves them in swarm mode:
 *
 *   <service>        its virtual IP on the network (vip, the default), or its tasks' addresses (dnsrr)
 *   tasks.<service>  the addresses of its running tasks
 *   <alias>          the tasks given that alias on the network (`--network name=N,alias=x`)
 *   <hostname>       a task's ContainerSpec.Hostname
 *   <container name> `<service>.<slot>.<task id>` (global: `<service>.<node id>.<task id>`)
 *
 * A name of an earlier kind hides the same name of a later kind. Only running, wanted tasks are
 * answers (isNameAnswer); their networks' names index tells the node when this changes.
 */
import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { NetworkNames, VirtualIpBackends } from '../../protocol/agent-api.ts';
import type { Reader } from '../db/database.ts';
import { HOLDING_STATES, nodes, services, type TaskNetwork, type TaskState, tasks } from '../db/schema/index.ts';
import { expandTaskSpec, taskTemplateContext } from '../swarm/templates.ts';
import { addressOf } from '../swarm/address-space.ts';

type EndpointMode = 'vip' | 'dnsrr';

/** One task that answers, with what names it answers to. */
interface AnsweringTask {
  id: string;
  serviceId: string;
  serviceName: string;
  endpointMode: EndpointMode;
  slot: number;
  nodeId: string;
  hostname: string | undefined;
  networks: TaskNetwork[];
  /** Aliases per network ID, from the task's spec. */
  aliases: Map<string, string[]>;
}

/** A vip-mode service's virtual IP on one network: what `<service>` answers there, tasks or none. */
export interface ServiceVip {
  serviceId: string;
  serviceName: string;
  networkId: string;
  addr: string;
}

/** The records of one network, from the services' virtual IPs there and the tasks that answer on it. */
export function networkRecords(networkId: string, answering: AnsweringTask[], vips: ServiceVip[] = []): Record<string, string[]> {
  const on = answering.flatMap((t) => {
    const attachment = t.networks.find((n) => n.networkId === networkId);
    return attachment ? [{ task: t, addr: addressOf(attachment.address) }] : [];
  });
  const kinds: Array<Map<string, Set<string>>> = [new Map(), new Map(), new Map(), new Map(), new Map()];
  const add = (kind: number, name: string | undefined, addrs: string[]) => {
    if (!name) return;
    const key = name.toLowerCase();
    const set = kinds[kind]!.get(key) ?? new Set<string>();
    for (const a of addrs) set.add(a);
    kinds[kind]!.set(key, set);
  };
  for (const vip of vips) if (vip.networkId === networkId) add(0, vip.serviceName, [vip.addr]);
  for (const { task, addr } of on) {
    // A vip service's name is its virtual IP (above); a dnsrr one's, its tasks.
    if (task.endpointMode === 'dnsrr') add(0, task.serviceName, [addr]);
    add(1, `tasks.${task.serviceName}`, [addr]);
    for (const alias of task.aliases.get(networkId) ?? []) add(2, alias, [addr]);
    add(3, task.hostname, [addr]);
    add(4, `${task.serviceName}.${task.slot > 0 ? task.slot : task.nodeId}.${task.id}`, [addr]);
  }
  const records: Record<string, string[]> = {};
  for (const kind of kinds) {
    for (const [name, addrs] of kind) records[name] ??= [...addrs].sort(byAddress);
  }
  return records;
}

/** Each virtual IP on the network with its service's running tasks' addresses there (none: connections are refused). */
export function virtualIpBackends(networkId: string, answering: AnsweringTask[], vips: ServiceVip[]): VirtualIpBackends[] {
  return vips
    .filter((v) => v.networkId === networkId)
    .map((v) => ({
      address: v.addr,
      backends: answering
        .filter((t) => t.serviceId === v.serviceId)
        .flatMap((t) => t.networks.filter((n) => n.networkId === networkId).map((n) => addressOf(n.address)))
        .sort(byAddress),
    }))
    .sort((a, b) => byAddress(a.address, b.address));
}

const byAddress = (a: string, b: string) => {
  const n = (s: string) => s.split('.').reduce((v, o) => v * 256 + Number(o), 0);
  return n(a) - n(b);
};

/**
 * The names on each node's overlay networks, for a batch of nodes at once: every network one of
 * its tasks holds an address on, with the records and virtual IPs of everything answering there.
 * The cluster's answering tasks and virtual IPs are read once for the batch, and each network's
 * names are built once however many of the batch's nodes are on it.
 */
export async function namesViews(
  db: Reader,
  clusterId: string,
  own: ReadonlyMap<string, ReadonlyArray<{ state: TaskState; networks: TaskNetwork[] | null }>>,
  ingressNetwork: string | undefined,
): Promise<Map<string, NetworkNames[]>> {
  const views = new Map<string, NetworkNames[]>();
  const mine = new Map<string, string[]>();
  for (const [nodeId, tasks] of own) {
    const held = tasks.filter((t) => HOLDING_STATES.has(t.state)).flatMap((t) => (t.networks ?? []).map((n) => n.networkId));
    // The routing mesh's network has no names, as in Docker.
    const networkIds = [...new Set(held)].filter((id) => id !== ingressNetwork).sort();
    if (networkIds.length) mine.set(nodeId, networkIds);
    else views.set(nodeId, []);
  }
  if (!mine.size) return views;
  const [answering, vips] = await Promise.all([answeringTasks(db, clusterId), serviceVips(db, clusterId)]);
  const built = new Map<string, NetworkNames>();
  const namesOn = (networkId: string) => {
    let names = built.get(networkId);
    if (!names) built.set(networkId, (names = { networkId, records: networkRecords(networkId, answering, vips), virtualIps: virtualIpBackends(networkId, answering, vips) }));
    return names;
  };
  for (const [nodeId, networkIds] of mine) views.set(nodeId, networkIds.map(namesOn));
  return views;
}

async function serviceVips(db: Reader, clusterId: string): Promise<ServiceVip[]> {
  const rows = await db.select({ id: services.id, name: services.name, virtualIps: services.virtualIps }).from(services).where(eq(services.clusterId, clusterId));
  return rows.flatMap((s) => s.virtualIps.map((v) => ({ serviceId: s.id, serviceName: s.name, networkId: v.NetworkID, addr: addressOf(v.Addr) })));
}

/** The cluster's tasks that answer to names now: running, still wanted, on an overlay network. */
async function answeringTasks(db: Reader, clusterId: string): Promise<AnsweringTask[]> {
  const rows = await db
    .select({
      id: tasks.id,
      serviceId: tasks.serviceId,
      slot: tasks.slot,
      nodeId: tasks.nodeId,
      networks: tasks.networks,
      hostname: sql<string | null>`json_extract(${tasks.spec}, '$.ContainerSpec.Hostname')`,
      specNetworks: sql<string | null>`json_extract(${tasks.spec}, '$.Networks')`,
      serviceName: services.name,
      serviceLabels: sql<string | null>`json_extract(${services.spec}, '$.Labels')`,
      endpointMode: sql<string | null>`json_extract(${services.spec}, '$.EndpointSpec.Mode')`,
    })
    .from(tasks)
    .innerJoin(services, eq(services.id, tasks.serviceId))
    .where(and(eq(tasks.clusterId, clusterId), eq(tasks.desiredState, 'running'), eq(tasks.state, 'running'), isNotNull(tasks.networks)));
  // A hostname template (`{{.Node.Hostname}}-web`) is filled in as the task's own node filled it.
  const templated = rows.filter((r) => r.hostname?.includes('{{'));
  const nodeRows = templated.length
    ? await db.select().from(nodes).where(inArray(nodes.id, [...new Set(templated.map((r) => r.nodeId!))]))
    : [];
  const nodeById = new Map(nodeRows.map((n) => [n.id, n]));
  return rows.map((r) => {
    const node = r.hostname?.includes('{{') ? nodeById.get(r.nodeId!) : undefined;
    const hostname = node ? expandTaskSpec({ ContainerSpec: { Hostname: r.hostname! } }, taskTemplateContext(r, node)).ContainerSpec?.Hostname : r.hostname;
    const specNetworks = (r.specNetworks ? JSON.parse(r.specNetworks) : []) as Array<{ Target?: string; Aliases?: string[] }>;
    return {
      id: r.id,
      serviceId: r.serviceId,
      serviceName: r.serviceName,
      endpointMode: r.endpointMode === 'dnsrr' ? 'dnsrr' : 'vip',
      slot: r.slot,
      nodeId: r.nodeId ?? '',
      hostname: hostname || undefined,
      networks: r.networks ?? [],
      aliases: new Map(specNetworks.filter((n) => n.Target).map((n) => [n.Target!, n.Aliases ?? []])),
    };
  });
}
