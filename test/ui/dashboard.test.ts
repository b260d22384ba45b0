/**
 * The dashboard's HTTP side, in process on a real libSQL file: sessions, cluster scoping, the
 * security headers and the live endpoint's blocking query. The browser drives it in browser.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createCluster } from '../../control-plane/swarm/clusters.ts';
import { joinInProcess, type TestApp, useLeaderApp } from '../harness/app.ts';
import { eventually } from '../harness/docker-cli.ts';

const leaderApp = useLeaderApp();
let t: TestApp;
let otherKey: string;

const ui = (path: string, init: RequestInit & { key?: string } = {}): Promise<Response> =>
  Promise.resolve(t.app.request(`https://cp.test${path}`, { ...init, headers: { ...(init.key ? { Cookie: `__Host-swarmlet-key=${init.key}` } : {}), ...(init.headers as Record<string, string>) } }));

const signIn = (apiKey: string, origin = 'https://cp.test') =>
  ui('/ui/sign-in', { method: 'POST', body: new URLSearchParams({ apiKey }), headers: { Origin: origin, 'Content-Type': 'application/x-www-form-urlencoded' } });

beforeAll(async () => {
  t = leaderApp();
  await joinInProcess(t, { hostname: 'ui-node-1' });
  otherKey = (await createCluster(t.deps.database, { tenant: 'other', name: 'theirs', initialize: true, now: Date.now(), keyRing: t.deps.keyRing })).apiKey;
  const created = await t.request('POST', '/v1.41/services/create', {
    Name: 'web-ui-test',
    TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1' }, Placement: { Constraints: ['node.labels.zone==nowhere'] } },
    Mode: { Replicated: { Replicas: 2 } },
  });
  expect(created.status).toBe(201);
});

describe('signing in', () => {
  it('keeps a valid key in an HttpOnly, Secure, SameSite=Strict cookie and sends the browser to the overview', async () => {
    const res = await signIn(t.apiKey);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^__Host-swarmlet-key=/);
    for (const attribute of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) expect(cookie).toContain(attribute);
  });

  it('refuses a wrong key with 401 and the form again, setting no cookie', async () => {
    const res = await signIn('sk-not-a-key');
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.text()).toContain('That API key is unknown or revoked.');
  });

  it('refuses a sign-in posted from another site, by Origin or by Sec-Fetch-Site', async () => {
    const res = await signIn(t.apiKey, 'https://evil.example');
    expect(res.status).toBe(400);
    expect(res.headers.get('set-cookie')).toBeNull();
    const fetched = await ui('/ui/sign-in', { method: 'POST', body: new URLSearchParams({ apiKey: t.apiKey }), headers: { 'Sec-Fetch-Site': 'cross-site' } });
    expect(fetched.status).toBe(400);
    expect(fetched.headers.get('set-cookie')).toBeNull();
  });

  it('sends a browser without a session to the sign-in form, and a script to a 401', async () => {
    expect((await ui('/ui')).headers.get('location')).toBe('/ui/sign-in');
    expect((await ui('/ui', { key: 'sk-wrong' })).status).toBe(303);
    expect((await ui('/ui/live/overview?index=0')).status).toBe(401);
  });

  it('signs out by expiring the cookie', async () => {
    const res = await ui('/ui/sign-out', { method: 'POST', key: t.apiKey, headers: { Origin: 'https://cp.test' } });
    expect(res.status).toBe(303);
    expect(res.headers.get('set-cookie')).toMatch(/__Host-swarmlet-key=;.*Max-Age=0/);
  });
});

describe('pages', () => {
  it('serves the overview with a CSP that allows no inline script, and no inline handlers', async () => {
    const res = await ui('/ui', { key: t.apiKey });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const page = await res.text();
    expect(page).toContain('web-ui-test');
    expect(page).toContain('0/2');
    expect(page).toContain('ui-node-1');
    expect(page).not.toMatch(/\son[a-z]+=/i);
    expect(page).not.toMatch(/<script>/);
  });

  it('shows the pending reason in words on the service page', async () => {
    const page = await eventually(async () => {
      const text = await (await ui('/ui/services/web-ui-test', { key: t.apiKey })).text();
      return text.includes('no suitable node') ? text : undefined;
    }, 10_000);
    expect(page).toMatch(/Waiting for a node:.*<li>no suitable node \(scheduling constraints not satisfied on 1 node\)<\/li>/s);
  });

  it('shows another tenant none of it, and a 404 for its service page', async () => {
    const page = await (await ui('/ui', { key: otherKey })).text();
    expect(page).not.toContain('web-ui-test');
    const theirs = await ui('/ui/services/web-ui-test', { key: otherKey });
    expect(theirs.status).toBe(404);
    expect(theirs.headers.get('content-type')).toContain('text/html');
    expect(await theirs.text()).toContain('<p role="alert">service web-ui-test not found</p>');
  });
});

describe('the live endpoint', () => {
  it('answers at once when the page is behind, and only after a change when it is current', async () => {
    const first = (await (await ui('/ui/live/overview?index=0', { key: t.apiKey })).json()) as { index: number; fragments: Record<string, string> };
    expect(first.index).toBeGreaterThan(0);
    expect(Object.keys(first.fragments).sort()).toEqual(['nodes', 'services', 'tasks']);
    const started = Date.now();
    const waiting = ui(`/ui/live/overview?index=${first.index}`, { key: t.apiKey }).then(async (r) => ({ at: Date.now(), body: (await r.json()) as typeof first }));
    await new Promise((r) => setTimeout(r, 300));
    const svc = (await (await t.request('GET', '/v1.41/services/web-ui-test')).json()) as { Version: { Index: number }; Spec: Record<string, unknown> };
    const changedAt = Date.now();
    await t.request('POST', `/v1.41/services/web-ui-test/update?version=${svc.Version.Index}`, { ...svc.Spec, Mode: { Replicated: { Replicas: 3 } } });
    const woke = await waiting;
    expect(woke.at - started).toBeGreaterThanOrEqual(300);
    expect(woke.at - changedAt).toBeLessThan(2_000);
    expect(woke.body.index).toBeGreaterThan(first.index);
    expect(woke.body.fragments.services).toContain('/3');
  });

  it('refuses an index that is not a number', async () => {
    expect((await ui('/ui/live/overview?index=abc', { key: t.apiKey })).status).toBe(400);
  });
});
