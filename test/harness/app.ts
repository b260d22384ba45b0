import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../control-plane/app.ts';
import { loadKeyRing } from '../../control-plane/auth/kek-file.ts';
import { loadConfig, type Config } from '../../control-plane/config.ts';
import { openDatabase } from '../../control-plane/db/open.ts';
import { type AppDeps, buildDeps } from '../../control-plane/deps.ts';
import { afterAll, beforeAll } from 'vitest';
import { LeaderLoop } from '../../control-plane/orchestrator/leader.ts';
import { createCluster } from '../../control-plane/swarm/clusters.ts';
import { contractViolations } from '../contract/schema.ts';

export interface TestApp {
  app: ReturnType<typeof createApp>;
  deps: AppDeps;
  config: Config;
  dir: string;
  /** API key of a swarm created (and initialised, unless asked otherwise) for this test. */
  apiKey: string;
  clusterId: string;
  /** Calls the app in-process as the docker CLI would, with the cluster's key. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): void;
}

/** A real control plane app on a real libSQL file in a temporary directory, driven in-process. */
export async function createTestApp(opts: { initialize?: boolean; env?: Record<string, string> } = {}): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-test-'));
  const config = loadConfig({ DATA_DIR: dir, ADMIN_TOKEN: 'admin-secret-for-tests', ...opts.env });
  const database = await openDatabase(config.libsqlUrl, undefined, config.db);
  const keyRing = await loadKeyRing(config);
  const deps = buildDeps(config, database, keyRing, { publicUrl: () => 'http://127.0.0.1:2399' });
  const app = createApp(deps);
  const { cluster, apiKey } = await createCluster(database, {
    tenant: 'test',
    name: 'main',
    initialize: opts.initialize !== false,
    now: Date.now(),
    keyRing,
  });
  return {
    app,
    deps,
    config,
    dir,
    apiKey,
    clusterId: cluster.id,
    async request(method, path, body, headers = {}) {
      const init: RequestInit = {
        method,
        headers: { Authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      };
      if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await app.request(`http://cp.test${path}`, init);
      // Every Docker API answer a test sees is checked against the Engine API's definitions.
      const violations = await contractViolations(method, path, res);
      if (violations.length) throw new Error(`the answer breaks the Engine API contract:\n  ${violations.join('\n  ')}`);
      return res;
    },
    close() {
      deps.notifier.close();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A test app with its leader loop running (placement, liveness, reaping) for the tests of the
 * calling describe block, stopped after them. Returns the app, once started.
 */
export function useLeaderApp(opts: Parameters<typeof createTestApp>[0] = {}): () => TestApp {
  let t: TestApp | undefined;
  let leader: LeaderLoop | undefined;
  beforeAll(async () => {
    t = await createTestApp(opts);
    leader = new LeaderLoop(t.deps);
    leader.start();
  });
  afterAll(async () => {
    await leader?.stop();
    t?.close();
  });
  return () => {
    if (!t) throw new Error('useLeaderApp: the app starts in beforeAll');
    return t;
  };
}

/** Docker's ServiceSpec as `docker service create --replicas N --name NAME IMAGE ARGS...` posts it. */
export function serviceSpec(name: string, replicas = 1, extra: Record<string, unknown> = {}) {
  return {
    Name: name,
    Labels: {},
    TaskTemplate: {
      ContainerSpec: { Image: 'local/busybox:1', Args: ['httpd', '-f', '-p', '80'], Init: false, DNSConfig: {} },
      Resources: { Limits: {}, Reservations: {} },
      Placement: {},
      ForceUpdate: 0,
    },
    Mode: { Replicated: { Replicas: replicas } },
    EndpointSpec: { Mode: 'vip' },
    ...extra,
  };
}

/** A node joined in-process through the agent API, calling it with its credential. */
export interface InProcessNode {
  nodeId: string;
  credential: string;
  agentRequest(method: string, path: string, body?: unknown, init?: RequestInit): Promise<Response>;
  /** One status report; returns its result entry. */
  report(taskId: string, state: string): Promise<{ ok: boolean; error?: string }>;
}

export async function joinInProcess(t: TestApp, node: { hostname: string; addr?: string; nanoCpus?: number; memoryBytes?: number; os?: string; arch?: string; wireguardPublicKey?: string; labels?: Record<string, string>; engineLabels?: Record<string, string> }): Promise<InProcessNode> {
  const swarm = await (await t.request('GET', '/swarm')).json();
  const res = await t.app.request('http://cp.test/agent/v1/join', {
    method: 'POST',
    body: JSON.stringify({
      token: swarm.JoinTokens.Worker,
      node: { nanoCpus: 2e9, memoryBytes: 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: '10.1.0.1', ...node },
    }),
  });
  if (res.status !== 200) throw new Error(`join failed: ${res.status} ${await res.text()}`);
  const { credential, nodeId } = (await res.json()) as { credential: string; nodeId: string };
  const agentRequest = (method: string, path: string, body?: unknown, init: RequestInit = {}) =>
    Promise.resolve(
      t.app.request(`http://cp.test/agent/v1${path}`, {
        ...init,
        method,
        headers: { Authorization: `Bearer ${credential}` },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
    );
  return {
    nodeId,
    credential,
    agentRequest,
    async report(taskId, state) {
      const r = await agentRequest('POST', '/status', { reports: [{ taskId, state, timestamp: Date.now() }] });
      return (await r.json()).results[0];
    },
  };
}
