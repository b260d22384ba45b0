/** The overlay data plane's pure decisions: peers to set or remove, routes, isolation rules, a task's networks. */
import { describe, expect, it } from 'vitest';
import type { Assignment, MeshView } from '../../protocol/agent-api.ts';
import { containerCreateOptions, endpointConfig, splitAttachments } from '../../agent/executor/container-spec.ts';
import { networkCreateOptions } from '../../agent/mesh/docker-networks.ts';
import { firewallRules, parseAddresses, parseRoutes, reachableVips, remoteAddresses, virtualIpRules, parseWireguardPeers, peerChanges, routeChanges } from '../../agent/mesh/plan.ts';

const peer = (nodeId: string, allowedIps: string[], endpoint = `198.18.0.${nodeId.length}:51820`) => ({ nodeId, publicKey: `key-${nodeId}=`, endpoint, allowedIps });

const view: MeshView = {
  listenPort: 51820,
  networks: [
    { id: 'frontnetwork0000000000000', name: 'front', subnet: '10.0.1.0/24', gateway: '10.0.1.1' },
    { id: 'backnetwork00000000000000', name: 'back', subnet: '10.0.2.0/24', gateway: '10.0.2.1' },
  ],
  peers: [peer('b', ['10.0.1.7/32', '10.0.2.3/32']), peer('cc', ['10.0.1.9/32'])],
};

describe('peerChanges', () => {
  it('sets new and changed peers, removes the ones no longer named, and leaves the same ones alone', () => {
    const current = [
      { publicKey: 'key-b=', endpoint: '198.18.0.1:51820', allowedIps: ['10.0.2.3/32', '10.0.1.7/32'] }, // same, other order
      { publicKey: 'key-cc=', endpoint: '198.18.0.2:51820', allowedIps: ['10.0.1.8/32'] }, // address moved
      { publicKey: 'key-gone=', endpoint: '198.18.0.9:51820', allowedIps: ['10.0.1.4/32'] },
    ];
    const changes = peerChanges(current, view.peers);
    expect(changes.set.map((p) => p.nodeId)).toEqual(['cc']);
    expect(changes.remove).toEqual(['key-gone=']);
    expect(peerChanges([], view.peers).set).toHaveLength(2);
    expect(peerChanges(current, [])).toEqual({ set: [], remove: ['key-b=', 'key-cc=', 'key-gone='] });
  });

  it('reads what `wg show <if> endpoints` and `allowed-ips` print', () => {
    const peers = parseWireguardPeers('key-b=\t198.18.0.1:51820\nkey-x=\t(none)\n', 'key-b=\t10.0.1.7/32 10.0.2.3/32\nkey-x=\t(none)\n');
    expect(peers).toEqual([
      { publicKey: 'key-b=', endpoint: '198.18.0.1:51820', allowedIps: ['10.0.1.7/32', '10.0.2.3/32'] },
      { publicKey: 'key-x=', endpoint: '', allowedIps: [] },
    ]);
    expect(peerChanges(peers, [peer('b', ['10.0.2.3/32', '10.0.1.7/32'], '198.18.0.1:51820')])).toEqual({ set: [], remove: ['key-x='] });
  });
});

describe('routeChanges', () => {
  it('routes every remote task address (/32) through the tunnel and drops the rest', () => {
    const current = parseRoutes('10.0.1.7 scope link \n10.0.1.4 scope link \n');
    expect(current).toEqual(['10.0.1.7/32', '10.0.1.4/32']);
    expect(routeChanges(current, view)).toEqual({ add: ['10.0.1.9/32', '10.0.2.3/32'], remove: ['10.0.1.4/32'] });
    expect(routeChanges([], { ...view, peers: [] })).toEqual({ add: [], remove: [] });
  });
});

describe('firewallRules', () => {
  it('lets only same-network traffic cross between the tunnel and each bridge, in one restore', () => {
    const rules = firewallRules(view, 'wg9').split('\n');
    expect(rules.slice(0, 3)).toEqual(['*filter', ':SWARMLET-MESH - [0:0]', ':SWARMLET-MESH-IN - [0:0]']);
    expect(rules).toContain('-A SWARMLET-MESH -i wg9 -o swl-frontnetwor -s 10.0.1.0/24 -d 10.0.1.0/24 -j ACCEPT');
    expect(rules).toContain('-A SWARMLET-MESH -i swl-backnetwork -o wg9 -s 10.0.2.0/24 -d 10.0.2.0/24 -j ACCEPT');
    // Whatever no accept matched (another network's source or destination) is dropped, last.
    expect(rules.slice(-5)).toEqual(['-A SWARMLET-MESH -i wg9 -j DROP', '-A SWARMLET-MESH -o wg9 -j DROP', '-A SWARMLET-MESH-IN -i wg9 -j DROP', 'COMMIT', '']);
    expect(rules.filter((r) => r.includes('ACCEPT'))).toHaveLength(4);
  });

  it('takes into the host only replies to its routing mesh, at its own mesh address', () => {
    const rules = firewallRules({ ...view, address: '10.0.0.3/32' }, 'wg9').split('\n');
    expect(rules).toContain('-A SWARMLET-MESH-IN -i wg9 -d 10.0.0.3/32 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
    expect(rules.indexOf('-A SWARMLET-MESH-IN -i wg9 -j DROP')).toBeGreaterThan(rules.findIndex((r) => r.includes('ESTABLISHED')));
    expect(rules.filter((r) => r.includes('SWARMLET-MESH-IN') && r.includes('ACCEPT'))).toHaveLength(1);
  });

  it('reads the interface\'s addresses from `ip -4 -o addr show`', () => {
    expect(parseAddresses('7: wg9    inet 10.0.0.3/32 scope global wg9\\       valid_lft forever preferred_lft forever\n')).toEqual(['10.0.0.3/32']);
    expect(parseAddresses('')).toEqual([]);
  });
});

describe('virtual IPs', () => {
  const vips = [
    { networkId: 'frontnetwork0000000000000', virtualIps: [{ address: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.7', '10.0.1.9'] }, { address: '10.0.1.3', backends: [] }] },
    { networkId: 'backnetwork00000000000000', virtualIps: [{ address: '10.0.2.2', backends: ['10.0.2.3'] }] },
  ];

  it('DNATs a new connection to each task with equal chance, and masquerades only a flow back onto its own bridge', () => {
    const rules = virtualIpRules(view, vips, 'wg9').split('\n');
    expect(rules).toEqual([
      '*nat',
      ':SWARMLET-VIP - [0:0]',
      ':SWARMLET-VIP-POST - [0:0]',
      // Egress: out of the overlay and not into the tunnel, as the host.
      '-A SWARMLET-VIP-POST -s 10.0.1.0/24 ! -d 10.0.1.0/24 ! -o wg9 -j MASQUERADE',
      '-A SWARMLET-VIP-POST -s 10.0.2.0/24 ! -d 10.0.2.0/24 ! -o wg9 -j MASQUERADE',
      '-A SWARMLET-VIP -i swl-frontnetwor -d 10.0.1.2/32 -m statistic --mode random --probability 0.33333333 -j DNAT --to-destination 10.0.1.5',
      '-A SWARMLET-VIP -i swl-frontnetwor -d 10.0.1.2/32 -m statistic --mode random --probability 0.50000000 -j DNAT --to-destination 10.0.1.7',
      '-A SWARMLET-VIP -i swl-frontnetwor -d 10.0.1.2/32 -j DNAT --to-destination 10.0.1.9',
      '-A SWARMLET-VIP-POST -o swl-frontnetwor -s 10.0.1.0/24 -m conntrack --ctstate DNAT -j MASQUERADE',
      '-A SWARMLET-VIP -i swl-backnetwork -d 10.0.2.2/32 -j DNAT --to-destination 10.0.2.3',
      '-A SWARMLET-VIP-POST -o swl-backnetwork -s 10.0.2.0/24 -m conntrack --ctstate DNAT -j MASQUERADE',
      'COMMIT',
      '',
    ]);
    expect(virtualIpRules({ ...view, networks: [] }, [], 'wg9')).toBe('*nat\n:SWARMLET-VIP - [0:0]\n:SWARMLET-VIP-POST - [0:0]\nCOMMIT\n');
  });

  it('refuses a connection to a VIP no task is behind, and routes every VIP into the tunnel for proxy ARP', () => {
    const rules = firewallRules(view, 'wg9', vips).split('\n');
    expect(rules.slice(3, 6)).toEqual(['-A SWARMLET-MESH -d 10.0.1.2/32 -j REJECT', '-A SWARMLET-MESH -d 10.0.1.3/32 -j REJECT', '-A SWARMLET-MESH -d 10.0.2.2/32 -j REJECT']);
    expect(routeChanges([], { ...view, peers: [] }, vips).add).toEqual(['10.0.1.2/32', '10.0.1.3/32', '10.0.2.2/32']);
  });

  it('sends to a task on another host only once the path there is in place; its own tasks at once', () => {
    const backends = (routed: string[]) => reachableVips(vips, view, new Set(routed)).map((n) => n.virtualIps.map((v) => v.backends));
    // Nothing routed yet: only 10.0.1.5, which no peer carries (a task of this host).
    expect(backends([])).toEqual([[['10.0.1.5'], []], [[]]]);
    // A pass put b's tasks in place, not yet cc's.
    expect(backends(['10.0.1.7', '10.0.2.3'])).toEqual([[['10.0.1.5', '10.0.1.7'], []], [['10.0.2.3']]]);
    expect(backends([...remoteAddresses(view)])).toEqual([[['10.0.1.5', '10.0.1.7', '10.0.1.9'], []], [['10.0.2.3']]]);
    // A task gone from the view leaves at once, routed or not.
    expect(reachableVips([{ ...vips[1]!, virtualIps: [{ address: '10.0.2.2', backends: [] }] }], view, new Set(['10.0.2.3']))[0]!.virtualIps[0]!.backends).toEqual([]);
  });
});

describe('a task on overlay networks', () => {
  const task: Assignment = {
    taskId: 't1', serviceId: 's1', serviceName: 'web', slot: 1, desiredState: 'running', state: 'assigned',
    spec: { ContainerSpec: { Image: 'local/busybox:1' } }, ports: [],
    networks: [
      { networkId: 'frontnetwork0000000000000', address: '10.0.1.5/24', aliases: ['api'] },
      { networkId: 'backnetwork00000000000000', address: '10.0.2.5/24', aliases: [] },
    ],
  };

  it('is created on the first network with its own address; the others are connected later', () => {
    const o = containerCreateOptions(task, 'n1', '10.0.1.1');
    expect(o.HostConfig?.NetworkMode).toBe('swarmlet-frontnetwork0000000000000');
    // No aliases for Docker's resolver, which would answer them with this host's containers alone.
    expect(o.NetworkingConfig).toEqual({ EndpointsConfig: { 'swarmlet-frontnetwork0000000000000': { IPAMConfig: { IPv4Address: '10.0.1.5' } } } });
    expect(containerCreateOptions({ ...task, networks: [] }, 'n1').NetworkingConfig).toBeUndefined();
  });

  it('is connected to ingress, never created on it', () => {
    const ingress = { networkId: 'ingressnetwork00000000000', address: '10.0.0.9/24', aliases: [], ingress: true as const };
    // Only ingress: the engine's default network stays its own (and its default route).
    const only = { ...task, networks: [ingress] };
    expect(containerCreateOptions(only, 'n1').HostConfig?.NetworkMode).toBeUndefined();
    expect(splitAttachments(only)).toEqual({ first: undefined, further: [ingress] });
    expect(endpointConfig(ingress)).toEqual({ IPAMConfig: { IPv4Address: '10.0.0.9' } });
    const both = { ...task, networks: [...task.networks, ingress] };
    expect(splitAttachments(both)).toEqual({ first: task.networks[0], further: [task.networks[1], ingress] });
  });

  it('asks the host\'s DNS server on its first network\'s gateway, whatever nameservers it was given', () => {
    const own = { ...task, spec: { ContainerSpec: { Image: 'local/busybox:1', DNSConfig: { Nameservers: ['192.0.2.53'], Search: ['example.internal'] } } } };
    expect(containerCreateOptions(own, 'n1', '10.0.1.1').HostConfig).toMatchObject({ Dns: ['10.0.1.1'], DnsSearch: ['example.internal'] });
    // Off the overlay, Docker's own resolver configuration stands.
    expect(containerCreateOptions({ ...own, networks: [] }, 'n1', undefined).HostConfig?.Dns).toEqual(['192.0.2.53']);
  });

  it('gets a bridge network of the overlay\'s subnet, unmasqueraded, on a bridge the rules can name', () => {
    expect(networkCreateOptions(view.networks[0]!, 'n1')).toMatchObject({
      Name: 'swarmlet-frontnetwork0000000000000',
      Driver: 'bridge',
      IPAM: { Config: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] },
      Options: { 'com.docker.network.bridge.name': 'swl-frontnetwor', 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
      Labels: { 'swarmlet.mesh.network.id': 'frontnetwork0000000000000', 'swarmlet.mesh.node.id': 'n1' },
    });
  });
});
