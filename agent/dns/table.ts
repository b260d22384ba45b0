/**
 * What the host's DNS server knows, built whole from one assignments answer and replaced whole by
 * the next (so a query sees one answer's view, never half of two), and kept while the control
 * plane is unreachable. A query is answered by who asks: its source address is a task's address,
 * the task's networks are the ones whose names it may resolve, in the task's network order.
 */
import type { Assignment, NetworkNames, OverlayNetwork } from '../../protocol/agent-api.ts';

export type Lookup =
  /** A swarm name on one of the asker's networks. */
  | { found: true; addresses: string[] }
  /** Not a swarm name the asker may see: the host's resolvers (or the task's own nameservers) answer it. */
  | { found: false; nameservers: string[] | undefined };

interface Asker {
  /** The networks whose names it resolves, first match wins (Docker searches a container's networks in order). */
  networks: string[];
  /** The task's DNSConfig.Nameservers: they, not the host's resolvers, answer its other names, as in Docker. */
  nameservers: string[] | undefined;
}

const addressOf = (cidr: string) => cidr.split('/')[0]!;
const toNumber = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

function inSubnet(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const prefix = Number(bits);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return ((toNumber(ip) & mask) >>> 0) === ((toNumber(base!) & mask) >>> 0);
}

/** A DNS name as the table keys it: case-insensitive, without the root's trailing dot. */
export const normalizeName = (name: string) => name.replace(/\.$/, '').toLowerCase();

export class NameTable {
  static readonly EMPTY = new NameTable(new Map(), new Map(), []);

  private constructor(
    private readonly records: Map<string, Record<string, string[]>>,
    private readonly askers: Map<string, Asker>,
    private readonly networks: OverlayNetwork[],
  ) {}

  /** The table for one assignments answer: its names, the node's networks and its tasks (the askers). */
  static from(names: NetworkNames[], networks: OverlayNetwork[], tasks: Assignment[]): NameTable {
    const askers = new Map<string, Asker>();
    for (const t of tasks) {
      const attachments = t.networks ?? [];
      const nameservers = t.spec?.ContainerSpec?.DNSConfig?.Nameservers;
      const asker = { networks: attachments.map((a) => a.networkId), nameservers: nameservers?.length ? nameservers : undefined };
      for (const a of attachments) askers.set(addressOf(a.address), asker);
    }
    return new NameTable(new Map(names.map((n) => [n.networkId, n.records])), askers, networks);
  }

  /**
   * `name` as `asker` (the query's source address) resolves it. An address that is no task here
   * (a container of the engine's own on the bridge) sees the network its address is in.
   */
  lookup(asker: string, name: string): Lookup {
    const known = this.askers.get(asker);
    const networks = known?.networks ?? this.networks.filter((n) => inSubnet(asker, n.subnet)).map((n) => n.id);
    const key = normalizeName(name);
    for (const id of networks) {
      const addresses = this.records.get(id)?.[key];
      if (addresses?.length) return { found: true, addresses };
    }
    return { found: false, nameservers: known?.nameservers };
  }

  /** The gateways the server listens on: one per overlay network of the node. */
  gateways(): string[] {
    return this.networks.map((n) => n.gateway);
  }
}
