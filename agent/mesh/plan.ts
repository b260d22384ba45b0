/**
 * The pure part of the overlay data plane: from the control plane's mesh view (and what the host
 * has now) to what to change. No I/O here, so every decision is unit-tested.
 */
import type { MeshPeer, MeshView, VirtualIpBackends } from '../../protocol/agent-api.ts';
import { FORWARD_CHAIN, INPUT_CHAIN, overlayBridgeName, VIP_CHAIN, VIP_POST_CHAIN } from './names.ts';

/** A WireGuard peer as the interface has it (from `wg show <if> endpoints` / `allowed-ips`). */
export interface WireguardPeer {
  publicKey: string;
  endpoint: string;
  allowedIps: string[];
}

export interface PeerChanges {
  /** Peers to add, or to set again because their endpoint or addresses changed. */
  set: MeshPeer[];
  /** Public keys of peers the interface has and the view no longer names. */
  remove: string[];
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

export function peerChanges(current: WireguardPeer[], desired: MeshPeer[]): PeerChanges {
  const have = new Map(current.map((p) => [p.publicKey, p]));
  const wanted = new Set(desired.map((p) => p.publicKey));
  return {
    set: desired.filter((p) => {
      const now = have.get(p.publicKey);
      return !now || now.endpoint !== p.endpoint || !sameSet(now.allowedIps, p.allowedIps);
    }),
    remove: current.filter((p) => !wanted.has(p.publicKey)).map((p) => p.publicKey),
  };
}

/** Parses `wg show <if> endpoints` and `wg show <if> allowed-ips` (tab-separated, one peer a line). */
export function parseWireguardPeers(endpoints: string, allowedIps: string): WireguardPeer[] {
  const rows = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.includes('\t'))
      .map((l) => {
        const [key = '', value = ''] = l.split('\t');
        return { key, value: value === '(none)' ? '' : value.trim() };
      });
  const ips = new Map(rows(allowedIps).map(({ key, value }) => [key, value.split(/\s+/).filter(Boolean)]));
  return rows(endpoints).map(({ key, value }) => ({ publicKey: key, endpoint: value, allowedIps: ips.get(key) ?? [] }));
}

export interface RouteChanges {
  add: string[];
  remove: string[];
}

/** The services' virtual IPs on one of this node's networks, as the names view gives them. */
export interface NetworkVips {
  networkId: string;
  virtualIps: VirtualIpBackends[];
}

/** The task addresses this view carries through the tunnel: its peers' allowed IPs, without prefix. */
export const remoteAddresses = (view: MeshView): Set<string> => new Set(view.peers.flatMap((p) => p.allowedIps.map((ip) => ip.replace(/\/32$/, ''))));

/**
 * The VIP backends this host can reach now: its own tasks, and another host's once a full mesh
 * pass has put the path there in place (peer, firewall, route: `routed`, the remote addresses of
 * the last view applied). The VIP rules are written ahead of that pass, so without this a new task
 * on another host would be sent connections the host cannot carry yet (they time out); it joins
 * the VIP when the pass is done. Leaving is never delayed.
 */
export function reachableVips(vips: NetworkVips[], view: MeshView, routed: ReadonlySet<string>): NetworkVips[] {
  const remote = remoteAddresses(view);
  const reachable = (b: string) => !remote.has(b) || routed.has(b);
  return vips.map((n) => ({ ...n, virtualIps: n.virtualIps.map((v) => ({ ...v, backends: v.backends.filter(reachable) })) }));
}

/**
 * The /32 routes through the WireGuard interface: one per remote task address, the peers'
 * allowed IPs, and one per virtual IP (so proxy ARP answers a container's ARP for it; a packet
 * to a VIP is DNATed to a task before it would take that route). A route no one names goes.
 */
export function routeChanges(current: string[], view: MeshView, vips: NetworkVips[] = []): RouteChanges {
  const desired = new Set([...view.peers.flatMap((p) => p.allowedIps), ...vips.flatMap((n) => n.virtualIps.map((v) => `${v.address}/32`))]);
  const have = new Set(current);
  return { add: [...desired].filter((r) => !have.has(r)).sort(), remove: [...have].filter((r) => !desired.has(r)).sort() };
}

/** Parses `ip -4 route show dev <if>`: the destinations, as /32 when the prefix is implicit. */
export function parseRoutes(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((dst) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst))
    .map((dst) => (dst.includes('/') ? dst : `${dst}/32`));
}

/** Parses `ip -4 -o addr show dev <if>`: the interface's addresses, as CIDRs. */
export function parseAddresses(text: string): string[] {
  return [...text.matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]!);
}

/**
 * The agent's iptables chains, as an `iptables-restore --noflush` input: declaring a chain there
 * flushes and refills it in one commit, so no packet ever sees half a rule set.
 *
 * Isolation: between the tunnel and network N's bridge only packets whose source and destination
 * are both in N's subnet pass; everything else entering or leaving the tunnel is dropped (Docker's
 * own rules would let a container on network B reach the tunnel, and so network A elsewhere). The
 * host itself takes from the tunnel only the replies to its routing mesh's own connections (to its
 * mesh address, on connections it opened): tasks talk to tasks, not to hosts.
 */
export function firewallRules(view: MeshView, wireguardInterface: string, vips: NetworkVips[] = []): string {
  const wg = wireguardInterface;
  const lines = ['*filter', `:${FORWARD_CHAIN} - [0:0]`, `:${INPUT_CHAIN} - [0:0]`];
  // Still addressed to a VIP after the nat table: its service has no running task. Refused at once.
  for (const n of vips) for (const v of n.virtualIps) lines.push(`-A ${FORWARD_CHAIN} -d ${v.address}/32 -j REJECT`);
  for (const n of view.networks) {
    const br = overlayBridgeName(n.id);
    lines.push(`-A ${FORWARD_CHAIN} -i ${wg} -o ${br} -s ${n.subnet} -d ${n.subnet} -j ACCEPT`);
    lines.push(`-A ${FORWARD_CHAIN} -i ${br} -o ${wg} -s ${n.subnet} -d ${n.subnet} -j ACCEPT`);
  }
  if (view.address) lines.push(`-A ${INPUT_CHAIN} -i ${wg} -d ${view.address} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
  lines.push(`-A ${FORWARD_CHAIN} -i ${wg} -j DROP`, `-A ${FORWARD_CHAIN} -o ${wg} -j DROP`, `-A ${INPUT_CHAIN} -i ${wg} -j DROP`, 'COMMIT', '');
  return lines.join('\n');
}

/**
 * The virtual IPs (nat table, one `iptables-restore --noflush`): a new connection from a container
 * on network N to one of N's VIPs is DNATed to one of its service's running tasks, each with equal
 * chance (rule i of k matches with probability 1/(k−i)), wherever the task runs; conntrack keeps
 * the connection on it and turns the replies back. A task on this same bridge would answer the
 * client directly, past the host, so that one flow is masqueraded (Docker's hairpin).
 *
 * And egress (Docker's docker_gwbridge does it there): a task's connection out of its overlay
 * networks, neither to its subnet nor into the tunnel, leaves masqueraded as the host, so a task
 * on an overlay reaches the outside world; task-to-task traffic keeps its own addresses.
 */
export function virtualIpRules(view: MeshView, vips: NetworkVips[], wireguardInterface: string): string {
  const lines = ['*nat', `:${VIP_CHAIN} - [0:0]`, `:${VIP_POST_CHAIN} - [0:0]`];
  for (const n of view.networks) lines.push(`-A ${VIP_POST_CHAIN} -s ${n.subnet} ! -d ${n.subnet} ! -o ${wireguardInterface} -j MASQUERADE`);
  for (const n of vips) {
    const network = view.networks.find((x) => x.id === n.networkId);
    if (!network) continue;
    const br = overlayBridgeName(n.networkId);
    for (const v of n.virtualIps) {
      v.backends.forEach((backend, i) => {
        const left = v.backends.length - i;
        const chance = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(8)}` : '';
        lines.push(`-A ${VIP_CHAIN} -i ${br} -d ${v.address}/32${chance} -j DNAT --to-destination ${backend}`);
      });
    }
    if (n.virtualIps.length) lines.push(`-A ${VIP_POST_CHAIN} -o ${br} -s ${network.subnet} -m conntrack --ctstate DNAT -j MASQUERADE`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}
