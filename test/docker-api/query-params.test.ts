import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTrue } from '../../control-plane/docker-api/query.ts';
import { createTestApp, serviceSpec, type TestApp } from '../harness/app.ts';
import { createService, json, joinNode } from './helpers.ts';

/** What SDKs and the CLI send for booleans, and what dockerd (httputils.BoolValue) makes of them. */
const TRUE = ['1', 'true', 'True', 'TRUE', 'yes', ' true ', 'on'];
const FALSE = ['0', 'false', 'False', 'no', 'NO', 'none', '', undefined];
const CASES: Array<[string | undefined, boolean]> = [...TRUE.map((v): [string, boolean] => [v, true]), ...FALSE.map((v): [string | undefined, boolean] => [v, false])];
const q = (name: string, v: string | undefined) => (v === undefined ? '' : `${name}=${encodeURIComponent(v)}`);

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await createService(t, serviceSpec('web', 1));
});
afterAll(() => t.close());

describe('boolean query parameters, read as dockerd reads them', () => {
  it('isTrue', () => {
    for (const [v, want] of CASES) expect(isTrue(v), JSON.stringify(v)).toBe(want);
  });

  it('GET /services?status', async () => {
    for (const [v, want] of CASES) {
      const [s] = await json(await t.request('GET', `/v1.41/services?${q('status', v)}`));
      expect('ServiceStatus' in s, JSON.stringify(v)).toBe(want);
    }
  });

  it('GET /services/{id}?insertDefaults', async () => {
    for (const [v, want] of CASES) {
      const s = await json(await t.request('GET', `/v1.41/services/web?${q('insertDefaults', v)}`));
      expect('UpdateConfig' in s.Spec, JSON.stringify(v)).toBe(want);
    }
  });

  it('POST /swarm/update?rotateWorkerToken', async () => {
    for (const [v, want] of CASES) {
      const before = await json(await t.request('GET', '/v1.41/swarm'));
      const res = await t.request('POST', `/v1.41/swarm/update?version=${before.Version.Index}&${q('rotateWorkerToken', v)}`, before.Spec);
      expect(res.status).toBe(200);
      const after = await json(await t.request('GET', '/v1.41/swarm'));
      expect(after.JoinTokens.Worker !== before.JoinTokens.Worker, JSON.stringify(v)).toBe(want);
      expect(after.JoinTokens.Manager).toBe(before.JoinTokens.Manager);
    }
  });

  it('DELETE /nodes/{id}?force', async () => {
    for (const [v, want] of CASES) {
      const { nodeId } = await joinNode(t, `live-${TRUE.indexOf(v!)}-${FALSE.indexOf(v)}`);
      const res = await t.request('DELETE', `/v1.41/nodes/${nodeId}?${q('force', v)}`);
      expect(res.status, JSON.stringify(v)).toBe(want ? 200 : 412);
    }
  });

  it('GET /services/{id}/logs?stdout&stderr', async () => {
    for (const [v, want] of CASES) {
      const res = await t.request('GET', `/v1.41/services/web/logs?${q('stdout', v)}&${q('stderr', v)}`);
      expect(res.status, JSON.stringify(v)).toBe(want ? 200 : 400);
      await res.arrayBuffer();
    }
  });
});
