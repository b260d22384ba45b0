/**
 * The dashboard in a real browser: Debian's headless Chromium (playwright-core drives it) against a
 * control plane process serving HTTPS under its cluster CA, the real swarm-agent running tasks on
 * the real Docker engine, and the real docker CLI changing the cluster while the page watches.
 * Screenshots of the main pages go to .test-results/ui/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentCluster } from '../harness/agent-cluster.ts';
import { launchChromium } from '../harness/browser.ts';
import { docker } from '../harness/docker-cli.ts';

const ADMIN_TOKEN = `admin-${Math.random().toString(36).slice(2)}`;
const SHOTS = '.test-results/ui';
const cluster = new AgentCluster('ui', { controlPlaneEnv: { ADMIN_TOKEN } });
const web = `web-${cluster.run}`;
const stuck = `stuck-${cluster.run}`;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;
let page: Page;
let apiKey: string;

/** The key the CLI sends, from the DOCKER_CONFIG the control plane printed. */
function cliApiKey(): string {
  const config = JSON.parse(readFileSync(join(cluster.env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as { HttpHeaders: Record<string, string> };
  return config.HttpHeaders.Authorization!.replace(/^Bearer /, '');
}

async function signIn(key: string): Promise<void> {
  await page.goto(`${cluster.cp.url}/ui`);
  await page.getByLabel('API key of your cluster').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const servicesRow = (name: string) => page.locator('#services tr', { has: page.getByRole('rowheader', { name }) });

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await cluster.start();
  apiKey = cliApiKey();
  await cluster.createService(web, ['--replicas', '1', 'local/busybox:1', 'sh', '-c', 'i=0; while true; do echo hello from the dashboard test $i; i=$((i+1)); sleep 0.3; done']);
  await cluster.createService(stuck, ['--replicas', '1', '--constraint', 'node.labels.zone==nowhere', 'local/busybox:1', 'sleep', '600']);
  chromium = await launchChromium(cluster.cp.caPem!);
  context = chromium.context;
  page = context.pages()[0] ?? (await context.newPage());
}, 180_000);

afterAll(async () => {
  await chromium?.close();
  await cluster.stop();
}, 90_000);

describe('the dashboard in Chromium', () => {
  it('refuses a wrong key and stays on the sign-in form', async () => {
    await signIn('sk-wrong-key');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('unknown or revoked');
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    expect(await context.cookies()).toEqual([]);
  });

  it('signs in, loads small and fast, and shows the node and the service', async () => {
    await signIn(apiKey);
    await page.waitForURL(/\/ui$/);
    // A first load as a new visitor's: a fresh tab with the cache off, counting every byte received.
    const fresh = await context.newPage();
    const cdp = await context.newCDPSession(fresh);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const loaded: Array<Promise<number>> = [];
    fresh.on('requestfinished', (request) => loaded.push(request.sizes().then((s) => s.responseBodySize + s.responseHeadersSize)));
    await fresh.goto(`${cluster.cp.url}/ui`, { waitUntil: 'load' });
    const bytes = (await Promise.all(loaded)).reduce((a, b) => a + b, 0);
    const paint = await fresh.evaluate(
      () =>
        new Promise<number>((resolve) => {
          new PerformanceObserver((list) => {
            const fcp = list.getEntriesByName('first-contentful-paint')[0];
            if (fcp) resolve(fcp.startTime);
          }).observe({ type: 'paint', buffered: true });
          setTimeout(() => resolve(-1), 5_000);
        }),
    );
    await fresh.close();
    console.log(`first load of the overview: ${loaded.length} responses, ${bytes} bytes; first contentful paint ${paint.toFixed(0)} ms`);
    expect(loaded.length).toBe(3);
    expect(bytes).toBeLessThan(60_000);
    expect(paint).toBeGreaterThan(0);
    expect(paint).toBeLessThan(3_000);
    const cookie = (await context.cookies())[0]!;
    expect(cookie).toMatchObject({ name: '__Host-swarmlet-key', httpOnly: true, secure: true, sameSite: 'Strict' });
    expect(page.url()).not.toContain(apiKey);

    await expect.poll(() => page.locator('#nodes').textContent(), { timeout: 20_000 }).toContain(cluster.hostname);
    await expect.poll(() => servicesRow(web).locator('.replicas').textContent(), { timeout: 30_000 }).toBe('1/1');
    await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });
  });

  it('updates without a reload when the docker CLI scales the service', async () => {
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    const scaled = await docker(['service', 'scale', '--detach', `${web}=3`], cluster.env, { timeoutMs: 30_000 });
    expect(scaled.code, scaled.stderr).toBe(0);
    const started = Date.now();
    await expect.poll(() => servicesRow(web).locator('.replicas').textContent(), { timeout: 15_000 }).toMatch(/^\d\/3$/);
    console.log(`the desired count reached the page ${Date.now() - started} ms after docker service scale returned`);
    await expect.poll(() => servicesRow(web).locator('.replicas').textContent(), { timeout: 60_000 }).toBe('3/3');
    expect(await page.evaluate(() => 'sameDocument' in window)).toBe(true);
    await page.screenshot({ path: `${SHOTS}/overview-scaled.png`, fullPage: true });
  });

  it('shows why a task is pending, in words', async () => {
    await page.getByRole('link', { name: stuck }).click();
    await page.waitForURL(/\/ui\/services\//);
    await expect.poll(() => page.locator('#pending').textContent(), { timeout: 20_000 }).toContain('no suitable node (scheduling constraints not satisfied on 1 node)');
    await page.screenshot({ path: `${SHOTS}/service-pending.png`, fullPage: true });
  });

  it('follows a service\'s logs live', async () => {
    await page.goto(`${cluster.cp.url}/ui`);
    await page.getByRole('link', { name: web }).click();
    await page.waitForURL(/\/ui\/services\//);
    const logs = page.locator('#logs');
    await expect.poll(() => logs.textContent(), { timeout: 20_000 }).toContain('hello from the dashboard test');
    const before = (await logs.textContent())!.length;
    // Lines keep arriving on the same open stream.
    await expect.poll(async () => (await logs.textContent())!.length, { timeout: 10_000 }).toBeGreaterThan(before);
    await page.screenshot({ path: `${SHOTS}/service-logs.png`, fullPage: true });
  });

  it('lists the cluster\'s events', async () => {
    await page.getByRole('link', { name: 'Events' }).click();
    await expect.poll(() => page.locator('#events').textContent()).toContain(web);
    await page.screenshot({ path: `${SHOTS}/events.png`, fullPage: true });
  });

  it('shows another tenant\'s key none of it', async () => {
    const res = await fetch(`${cluster.cp.url}/admin/v1/clusters`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ tenant: 'other', name: 'theirs' }),
    });
    expect(res.status).toBe(201);
    const other = (await res.json()) as { apiKey: string };
    await page.goto(`${cluster.cp.url}/ui`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/ui\/sign-in$/);
    expect(await context.cookies()).toEqual([]);
    await signIn(other.apiKey);
    await page.waitForURL(/\/ui$/);
    const overview = (await page.locator('main').textContent())!;
    expect(overview).toContain('no services');
    expect(overview).not.toContain(web);
    expect(overview).not.toContain(cluster.hostname);
    const webId = (await docker(['service', 'inspect', '--format', '{{.ID}}', web], cluster.env)).stdout.trim();
    const theirs = await page.goto(`${cluster.cp.url}/ui/services/${webId}`);
    expect(theirs?.status()).toBe(404);
    expect(await page.getByRole('alert').textContent()).toBe(`service ${webId} not found`);
  });
});
