import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressKind } from '../../control-plane/agent-api/join-request.ts';
import { createTestApp, joinInProcess, serviceSpec, type TestApp, useLeaderApp } from '../harness/app.ts';
import { eventually } from '../harness/docker-cli.ts';
import { expectAgentError, expectRefusedWithoutChange, json, nodeInfo, workerToken } from '../docker-api/helpers.ts';

/** Issue 11, finding 3: what a node says about itself is bounded, and never decides its own placement. */

const postJoin = (t: TestApp, body: unknown) =>
  Promise.resolve(t.app.request('http://cp.test/agent/v1/join', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) }));

const key = (fill: number, bytes = 32) => Buffer.alloc(bytes, fill).toString('base64');
const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

describe('a joining node\'s description is checked at the edge', () => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await createTestApp();
    token = await workerToken(t);
  });
  afterAll(() => t.close());

  const refused = (node: Record<string, unknown>, message: RegExp, extra: Record<string, unknown> = {}) =>
    expectRefusedWithoutChange(t, () => postJoin(t, { token, node: { ...nodeInfo('host-x'), ...node }, ...extra }), 400, message, expectAgentError);

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a hostname as addr', { addr: 'node1.example.com' }, /^node\.addr "node1\.example\.com" is not an IP address/],
    ['the metadata service\'s link-local addr', { addr: '169.254.169.254' }, /^node\.addr 169\.254\.169\.254 is a link-local address, which other nodes cannot reach/],
    ['an IPv6 link-local addr', { addr: 'fe80::1' }, /is a link-local address/],
    ['link-local behind an IPv4-mapped IPv6 addr', { addr: '::ffff:169.254.169.254' }, /is a link-local address/],
    ['the unspecified IPv4 addr', { addr: '0.0.0.0' }, /^node\.addr 0\.0\.0\.0 is a unspecified address/],
    ['the unspecified IPv6 addr', { addr: '::' }, /is a unspecified address/],
    ['a multicast addr', { addr: '224.0.0.1' }, /is a multicast address/],
    ['an IPv6 multicast addr', { addr: 'ff02::1' }, /is a multicast address/],
    ['the broadcast addr', { addr: '255.255.255.255' }, /is a broadcast address/],
    ['an octal-looking addr', { addr: '010.0.0.1' }, /is not an IP address/],
    ['an addr with a zone', { addr: 'fe80::1%eth0' }, /is not an IP address/],
    ['an addr that is not a string', { addr: 167772161 }, /^node\.addr must be the IP address of the node$/],
    ['a hostname of 254 characters', { hostname: 'a'.repeat(254) }, /^node\.hostname must be a string of 1 to 253 characters$/],
    ['an empty hostname', { hostname: '' }, /^node\.hostname must be a string of 1 to 253 characters$/],
    ['an ANSI escape in the hostname', { hostname: 'web\u001b[31mred' }, /^node\.hostname must not contain control characters$/],
    ['CR/LF in the hostname', { hostname: 'web\r\nfake-node  Ready' }, /^node\.hostname must not contain control characters$/],
    ['a CSI (C1) in the hostname', { hostname: 'web\u009b31m' }, /^node\.hostname must not contain control characters$/],
    ['a space in the hostname', { hostname: 'two words' }, /^node\.hostname "two words" may only hold letters, digits/],
    ['101 labels', { labels: labels(101) }, /^node\.labels has 101 labels; at most 100 are allowed$/],
    ['101 labels and engine labels together', { labels: labels(60), engineLabels: Object.fromEntries(Object.entries(labels(41)).map(([k, v]) => [`e${k}`, v])) }, /hold 101 labels together; at most 100/],
    ['101 engine labels', { engineLabels: labels(101) }, /^node\.engineLabels has 101 labels/],
    ['a label key of 129 characters', { labels: { ['k'.repeat(129)]: 'v' } }, /^node\.labels: a label key must be 1 to 128 characters/],
    ['a label value of 513 characters', { labels: { zone: 'v'.repeat(513) } }, /^node\.labels: label "zone" must be at most 512 characters/],
    ['a newline in a label value', { labels: { zone: 'a\nb' } }, /^node\.labels: label "zone" must be at most 512 characters without control characters$/],
    ['an escape in an engine label key', { engineLabels: { 'zo\u001bne': 'a' } }, /^node\.engineLabels: a label key must be/],
    ['a label value that is not a string', { labels: { zone: 1 } }, /^node\.labels must map strings to strings$/],
    ['labels that are a list', { labels: ['zone=a'] }, /^node\.labels must map strings to strings$/],
    ['an os of 65 characters', { os: 'l'.repeat(65) }, /^node\.os must be a string of 1 to 64 characters$/],
    ['an arch with an escape', { arch: 'x86\u001b[2J' }, /^node\.arch must not contain control characters$/],
    ['an arch with a slash', { arch: 'x86/64' }, /^node\.arch "x86\/64" may only hold letters, digits/],
    ['an engine version with a line feed', { engineVersion: '20.10\n' }, /^node\.engineVersion must not contain control characters$/],
    ['an engine version of 129 characters', { engineVersion: '1'.repeat(129) }, /^node\.engineVersion must be a string of 1 to 128 characters$/],
    ['negative CPUs', { nanoCpus: -1 }, /^node\.nanoCpus must be a non-negative integer$/],
    ['fractional memory', { memoryBytes: 1.5 }, /^node\.memoryBytes must be a non-negative integer$/],
    ['memory beyond exact integers', { memoryBytes: 2 ** 60 }, /^node\.memoryBytes must be a non-negative integer$/],
    ['memory as a string', { memoryBytes: '1' }, /^node\.memoryBytes must be a non-negative integer$/],
    ['a WireGuard key of 31 bytes', { wireguardPublicKey: key(1, 31) }, /^node\.wireguardPublicKey must be a base64 X25519 public key \(32 bytes\)$/],
    ['a WireGuard key of 33 bytes', { wireguardPublicKey: key(1, 33) }, /^node\.wireguardPublicKey must be a base64 X25519 public key/],
    ['a WireGuard key in non-canonical base64', { wireguardPublicKey: `${key(0).slice(0, 42)}B=` }, /^node\.wireguardPublicKey must be a base64 X25519 public key/],
  ];
  for (const [what, node, message] of cases) {
    it(`refuses ${what} with 400, writing nothing`, () => refused(node, message));
  }

  it('refuses an infinite CPU count (1e400 in the JSON), writing nothing', async () => {
    const body = JSON.stringify({ token, node: { ...nodeInfo('host-x'), nanoCpus: 0 } }).replace('"nanoCpus":0', '"nanoCpus":1e400');
    await expectRefusedWithoutChange(t, () => postJoin(t, body), 400, /^node\.nanoCpus must be a non-negative integer$/, expectAgentError);
  });

  it('refuses the same on a rejoin, which leaves the node and its credential as they were', async () => {
    const node = await joinInProcess(t, { hostname: 'rejoiner', addr: '10.1.0.7', wireguardPublicKey: key(7) });
    await refused({ hostname: 'rejoiner', addr: '169.254.169.254', wireguardPublicKey: key(7) }, /is a link-local address/, { credential: node.credential });
    await refused({ hostname: 'rejoiner\u001b[0m', wireguardPublicKey: key(7) }, /control characters/, { credential: node.credential });
    expect((await node.agentRequest('GET', '/assignments')).status).toBe(200);
  });

  it('takes IPv4 and IPv6 addresses of the node, and loopback in a local cluster (its join URL is loopback)', async () => {
    for (const [hostname, addr] of [['v4', '192.0.2.10'], ['v6', '2001:db8::5'], ['lo4', '127.0.0.1'], ['lo6', '::1'], ['mapped', '::ffff:10.0.0.9']] as const) {
      const joined = await json(await postJoin(t, { token, node: { ...nodeInfo(hostname), addr } }));
      const node = await json(await t.request('GET', `/v1.41/nodes/${joined.nodeId}`));
      expect(node.Status.Addr).toBe(addr);
    }
  });

  it('keeps allowing two nodes with one hostname, as Docker does (IDs tell them apart)', async () => {
    const a = await json(await postJoin(t, { token, node: nodeInfo('twin') }));
    const b = await json(await postJoin(t, { token, node: nodeInfo('twin') }));
    expect(a.nodeId).not.toBe(b.nodeId);
  });
});

describe('in a cluster whose agents join from other hosts', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ initialize: false });
    await json(await t.request('POST', '/v1.41/swarm/init', { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: '203.0.113.7:2399' }));
  });
  afterAll(() => t.close());

  it('refuses a loopback addr, which would point every peer at itself', async () => {
    const token = await workerToken(t);
    for (const addr of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      await expectRefusedWithoutChange(
        t,
        () => postJoin(t, { token, node: { ...nodeInfo('remote'), addr } }),
        400,
        /^node\.addr \S+ is a loopback address, which other nodes cannot reach: give an address of the node they can \(--advertise-addr\)$/,
        expectAgentError,
      );
    }
    expect((await postJoin(t, { token, node: { ...nodeInfo('remote'), addr: '198.51.100.4' } })).status).toBe(200);
  });
});

describe('node labels are the operator\'s; a node\'s own labels are engine labels', () => {
  const app = useLeaderApp();

  const placedOn = (t: TestApp, service: string) =>
    eventually(async () => {
      const tasks = await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${encodeURIComponent(JSON.stringify({ service: { [service]: true } }))}`));
      return tasks.find((task) => task.NodeID)?.NodeID as string | undefined;
    }, 10_000, 50);

  it('a joining node with zone=a meets engine.labels.zone==a, not node.labels.zone==a until docker node update --label-add', async () => {
    const t = app();
    const node = await joinInProcess(t, { hostname: 'labelled', labels: { zone: 'a' }, engineLabels: { storage: 'ssd' }, wireguardPublicKey: key(11) });
    const inspected = await json(await t.request('GET', `/v1.41/nodes/${node.nodeId}`));
    expect(inspected.Spec.Labels).toEqual({});
    expect(inspected.Description.Engine.Labels).toEqual({ storage: 'ssd', zone: 'a' });

    const constrained = async (name: string, constraint: string) =>
      json(await t.request('POST', '/v1.41/services/create', serviceSpec(name, 1, { TaskTemplate: { ...serviceSpec(name).TaskTemplate, Placement: { Constraints: [constraint] } } })), 201);
    await constrained('by-engine', 'engine.labels.zone==a');
    await constrained('by-node', 'node.labels.zone==a');
    expect(await placedOn(t, 'by-engine')).toBe(node.nodeId);
    // The node-label service waits, saying why, until the operator labels the node.
    const pending = await eventually(async () => {
      const tasks = await json<any[]>(await t.request('GET', `/v1.41/tasks?filters=${encodeURIComponent(JSON.stringify({ service: { 'by-node': true } }))}`));
      return tasks.find((task) => /no suitable node/.test(task.Status.Err ?? ''));
    }, 10_000, 50);
    expect(pending.NodeID).toBeUndefined();

    const update = await t.request('POST', `/v1.41/nodes/${node.nodeId}/update?version=${inspected.Version.Index}`, { ...inspected.Spec, Labels: { zone: 'a' } });
    expect(update.status).toBe(200);
    expect(await placedOn(t, 'by-node')).toBe(node.nodeId);

    // A rejoin refreshes what the node says of itself and keeps what the operator set.
    const rejoined = await json(
      await postJoin(t, {
        token: await workerToken(t),
        credential: node.credential,
        node: { ...nodeInfo('labelled'), addr: '10.1.0.1', wireguardPublicKey: key(11), labels: { zone: 'b' } },
      }),
    );
    expect(rejoined.nodeId).toBe(node.nodeId);
    const after = await json(await t.request('GET', `/v1.41/nodes/${node.nodeId}`));
    expect(after.Spec.Labels).toEqual({ zone: 'a' });
    expect(after.Description.Engine.Labels).toEqual({ zone: 'b' });
  });
});

describe('addressKind', () => {
  it('classifies IPv4 and IPv6 forms, and is undefined for anything else', () => {
    expect(addressKind('10.0.0.1')).toBe('usable');
    expect(addressKind('2001:db8:0:0:0:0:0:1')).toBe('usable');
    expect(addressKind('::ffff:192.0.2.1')).toBe('usable');
    expect(addressKind('fe80:0:0:0::abcd')).toBe('link-local');
    expect(addressKind('febf::1')).toBe('link-local');
    expect(addressKind('fec0::1')).toBe('usable');
    expect(addressKind('0:0:0:0:0:0:0:1')).toBe('loopback');
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.0.0.1', '1:2:3:4:5:6:7:8:9', '1::2::3', ':::', 'localhost', '', '1.2.3.4 ', '0x7f.0.0.1']) {
      expect(addressKind(bad), bad).toBeUndefined();
    }
  });
});
