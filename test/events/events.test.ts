import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropExpiredRows } from '../../control-plane/orchestrator/housekeeping.ts';
import { LeaderLoop } from '../../control-plane/orchestrator/leader.ts';
import { eventually } from '../harness/docker-cli.ts';
import { dockerTime } from '../../control-plane/docker-api/query.ts';
import { createTestApp, joinInProcess, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, enc, expectDockerError, json } from '../docker-api/helpers.ts';

let t: TestApp;
let started: number;
beforeAll(async () => {
  t = await createTestApp();
  started = Date.now();
});
afterAll(() => t.close());

/** The events between `since` and now, as `docker events --since … --until now` reads them. */
async function eventsUntilNow(filters?: Record<string, string[]>) {
  const q = new URLSearchParams({ since: String(started / 1000), until: String(Date.now() / 1000 + 0.001) });
  if (filters) q.set('filters', JSON.stringify(filters));
  const res = await t.request('GET', `/v1.41/events?${q}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  const text = await res.text();
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l));
}

describe('GET /events', () => {
  let serviceId: string;
  let nodeId: string;
  beforeAll(async () => {
    serviceId = await createService(t, serviceSpec('web', 1));
    const s = await json(await t.request('GET', '/v1.41/services/web'));
    await json(await t.request('POST', `/v1.41/services/web/update?version=${s.Version.Index}`, { ...s.Spec, Mode: { Replicated: { Replicas: 3 } } }));
    ({ nodeId } = await joinInProcess(t, { hostname: 'events-host' }));
    const n = await json(await t.request('GET', `/v1.41/nodes/${nodeId}`));
    expect((await t.request('POST', `/v1.41/nodes/${nodeId}/update?version=${n.Version.Index}`, { ...n.Spec, Availability: 'drain' })).status).toBe(200);
    expect((await t.request('DELETE', '/v1.41/services/web')).status).toBe(200);
  });

  it('streams the swarm events in order, in dockerd\'s message shape, and ends at until', async () => {
    const all = await eventsUntilNow();
    expect(all.map((e) => `${e.Type} ${e.Action}`)).toEqual(['service create', 'service update', 'node create', 'node update', 'service remove']);
    const [create, update] = all;
    expect(create).toEqual({
      Type: 'service',
      Action: 'create',
      Actor: { ID: serviceId, Attributes: { name: 'web' } },
      scope: 'swarm',
      time: expect.any(Number),
      timeNano: expect.any(Number),
    });
    expect(Math.floor(create.timeNano / 1e9)).toBe(create.time);
    expect(update.Actor.Attributes).toEqual({ name: 'web', 'replicas.old': '1', 'replicas.new': '3' });
    expect(all[3].Actor).toEqual({ ID: nodeId, Attributes: { name: 'events-host', 'availability.old': 'active', 'availability.new': 'drain' } });
  });

  it('filters as dockerd does: type, event, and object names or ID prefixes', async () => {
    const kinds = (events: any[]) => events.map((e) => `${e.Type} ${e.Action}`);
    expect(kinds(await eventsUntilNow({ type: ['service'] }))).toEqual(['service create', 'service update', 'service remove']);
    expect(kinds(await eventsUntilNow({ type: ['node'], event: ['update'] }))).toEqual(['node update']);
    expect(kinds(await eventsUntilNow({ service: ['web'] }))).toEqual(['service create', 'service update', 'service remove']);
    expect(kinds(await eventsUntilNow({ service: [serviceId.slice(0, 6)], event: ['remove'] }))).toEqual(['service remove']);
    expect(kinds(await eventsUntilNow({ node: ['events-host'] }))).toEqual(['node create', 'node update']);
    expect(await eventsUntilNow({ container: ['anything'] })).toEqual([]);
    await expectDockerError(await t.request('GET', `/v1.41/events?filters=${enc({ colour: ['red'] })}`), 400, /^Invalid filter 'colour'$/);
    await expectDockerError(await t.request('GET', '/v1.41/events?since=yesterday-ish'), 400, /^invalid since 'yesterday-ish'/);
  });

  it('follows: a change made while the stream is open arrives on it', async () => {
    const controller = new AbortController();
    const res = await t.app.request('http://cp.test/v1.41/events?filters=' + enc({ type: ['service'] }), {
      headers: { Authorization: `Bearer ${t.apiKey}` },
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const next = reader.read();
    await createService(t, serviceSpec('later', 1));
    const { value } = await next;
    const event = JSON.parse(new TextDecoder().decode(value));
    expect(event).toMatchObject({ Type: 'service', Action: 'create', Actor: { Attributes: { name: 'later' } } });
    controller.abort();
    await reader.cancel();
  });

  it('keeps events for the retention, then housekeeping drops them', async () => {
    const before = (await eventsUntilNow()).length;
    expect(before).toBeGreaterThan(0);
    await t.deps.database.write((tx) => dropExpiredRows(tx, t.clusterId, Date.now() + 1000, { ...t.config, eventsRetentionMs: 0 }));
    expect(await eventsUntilNow()).toEqual([]);
  });
});

describe('dockerTime: since and until as dockerd reads them', () => {
  const now = Date.UTC(2026, 10, 29, 12, 0, 0);
  it('reads Unix seconds, Go durations back from now, and RFC 3339', () => {
    expect(dockerTime('since', '1764417600', now)).toBe(1764417600_000);
    expect(dockerTime('since', '1764417600.250', now)).toBe(1764417600_250);
    expect(dockerTime('since', '10m', now)).toBe(now - 600_000);
    expect(dockerTime('since', '1h30m', now)).toBe(now - 5_400_000);
    expect(dockerTime('since', '2026-11-29T11:00:00Z', now)).toBe(now - 3_600_000);
    expect(dockerTime('since', '', now)).toBeUndefined();
    expect(dockerTime('since', undefined, now)).toBeUndefined();
    expect(() => dockerTime('until', 'soon', now)).toThrow(/^invalid until 'soon'/);
  });
});

describe('events of the leader\'s own changes', () => {
  it('a node whose heartbeats stop is reported down: node update state.old=ready state.new=down', async () => {
    const fast = await createTestApp({ env: { HEARTBEAT_PERIOD_MS: '100', HEARTBEAT_MISSES: '2' } });
    const leader = new LeaderLoop(fast.deps);
    try {
      const since = Date.now() / 1000;
      const { nodeId } = await joinInProcess(fast, { hostname: 'silent-host' });
      leader.start();
      await eventually(async () => (await json(await fast.request('GET', `/v1.41/nodes/${nodeId}`))).Status.State === 'down', 10_000, 50);
      const res = await fast.request('GET', `/v1.41/events?since=${since}&until=${Date.now() / 1000 + 0.001}&filters=${enc({ type: ['node'], event: ['update'] })}`);
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((e) => e.Actor)).toEqual([{ ID: nodeId, Attributes: { name: 'silent-host', 'state.old': 'ready', 'state.new': 'down' } }]);
    } finally {
      await leader.stop();
      fast.close();
    }
  });
});
