/**
 * The pure part of the overlay data plane: from the control plane's mesh view (and what the host
 * has now) to what to change. No I/O here, so every decision is unit-tested.
 */
import type { MeshPeer, MeshView } from '../../protocol/agent-api.ts';
import { FORWARD_CHAIN, INPUT_CHAIN, overlayBridgeName } from './names.ts';

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

/**
 * The /32 routes through the WireGuard interface: one per remote task address, the peers'
 * allowed IPs. A route the interface has and no peer names any more goes.
 */
export function routeChanges(current: string[], view: MeshView): RouteChanges {
  const desired = new Set(view.peers.flatMap((p) => p.allowedIps));
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
export function firewallRules(view: MeshView, wireguardInterface: string): string {
  const wg = wireguardInterface;
  const lines = ['*filter', `:${FORWARD_CHAIN} - [0:0]`, `:${INPUT_CHAIN} - [0:0]`];
  for (const n of view.networks) {
    const br = overlayBridgeName(n.id);
    lines.push(`-A ${FORWARD_CHAIN} -i ${wg} -o ${br} -s ${n.subnet} -d ${n.subnet} -j ACCEPT`);
    lines.push(`-A ${FORWARD_CHAIN} -i ${br} -o ${wg} -s ${n.subnet} -d ${n.subnet} -j ACCEPT`);
  }
  if (view.address) lines.push(`-A ${INPUT_CHAIN} -i ${wg} -d ${view.address} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
  lines.push(`-A ${FORWARD_CHAIN} -i ${wg} -j DROP`, `-A ${FORWARD_CHAIN} -o ${wg} -j DROP`, `-A ${INPUT_CHAIN} -i ${wg} -j DROP`, 'COMMIT', '');
  return lines.join('\n');
}
