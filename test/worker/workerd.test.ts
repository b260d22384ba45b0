import { createClient as createWebClient } from '@libsql/client/web';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { drizzle } from 'drizzle-orm/libsql/web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyRingFrom, newKek } from '../../control-plane/auth/envelope.ts';
import { Database, DRIZZLE_OPTIONS } from '../../control-plane/db/database.ts';
import { createCluster } from '../../control-plane/swarm/clusters.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { startHranaServer, type HranaServer } from '../harness/hrana-server.ts';
import { freePort } from '../harness/net.ts';
import { ROOT, watchOutput } from '../harness/process-output.ts';
import { nodeInfo, SimAgent } from '../harness/sim-agent.ts';
import { expectPendingService, expectSwarmInit } from './pending-service.ts';
import { QUIET, wranglerBuild } from './wrangler.ts';

const TOKEN = 'workerd-libsql-token';

/**
 * Bundles the Worker exactly as `npm run worker:build` does, next to a copy of wrangler.toml whose
 * `main` is that bundle: `wrangler dev` then runs the deployable artifact and, unlike on the
 * sources, does not reload the isolate whenever a file of the project changes.
 */
async function bundleWorker(outdir: string): Promise<string> {
  await wranglerBuild(outdir);
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const config = toml.replace(/^main = .*$/m, 'main = "worker.js"');
  expect(config).not.toBe(toml);
  writeFileSync(join(outdir, 'wrangler.toml'), config);
  return join(outdir, 'wrangler.toml');
}

/** `wrangler dev --local` (workerd) in its own process group, so the whole tree can be stopped. */
async function startWrangler(configPath: string, vars: Record<string, string>, stateDir: string) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = ['wrangler', 'dev', '--config', configPath, '--no-bundle', '--local', '--ip', '127.0.0.1', '--port', String(port)];
  args.push('--inspector-port', String(inspectorPort), '--persist-to', stateDir, '--show-interactive-dev-session=false', '--log-level', 'log');
  for (const [k, v] of Object.entries({ ...vars, PUBLIC_URL: `http://127.0.0.1:${port}` })) args.push('--var', `${k}:${v}`);
  const proc: ChildProcess = spawn('npx', args, { cwd: ROOT, env: { ...process.env, ...QUIET }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const { output, exited } = watchOutput(proc, 'wrangler dev');
  const url = `http://127.0.0.1:${port}`;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-proc.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  const stop = async () => {
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    // workerd may outlive wrangler's node process for a moment; the group goes with it.
    killGroup('SIGKILL');
  };
  try {
    await eventually(async () => {
      if (proc.exitCode !== null) throw new Error(`wrangler exited with ${proc.exitCode}:\n${output()}`);
      // The Worker itself answers (a ping without the API key is refused, which is an answer too).
      return output().includes('Ready on') && [200, 401].includes((await fetch(`${url}/_ping`, { signal: AbortSignal.timeout(5_000) })).status);
    }, 60_000, 250);
  } catch (err) {
    await stop();
    throw new Error(`wrangler dev did not become ready: ${(err as Error).message}\n${output()}`);
  }
  return { url, port, output, stop };
}

/**
 * The Worker entry (control-plane/worker.ts) running in workerd via `wrangler dev --local`, with its
 * state in a libSQL server (our Hrana test server), driven by the real docker CLI.
 */
describe('Cloudflare Worker in workerd on a remote libSQL server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-workerd-'));
  const dockerConfig = join(dir, 'docker');
  let hrana: HranaServer;
  let worker: Awaited<ReturnType<typeof startWrangler>>;
  let database: Database;
  let env: Record<string, string>;

  beforeAll(async () => {
    hrana = await startHranaServer({ file: join(dir, 'worker.db'), authToken: TOKEN });
    // As documented: migrations are applied beforehand, the Worker itself never migrates.
    const migrated = await promisify(execFile)('npx', ['tsx', 'control-plane/db/apply-migrations.ts'], {
      cwd: ROOT,
      env: { ...process.env, LIBSQL_URL: hrana.url, LIBSQL_AUTH_TOKEN: TOKEN },
      timeout: 60_000,
    });
    expect(migrated.stdout).toContain(`migrations applied to ${hrana.url}`);
    // The first cluster and its API key, written with the Worker's own client (the web one), which
    // fails unless the schema is already there.
    const client = createWebClient({ url: hrana.url, authToken: TOKEN });
    database = new Database(client, drizzle(client, DRIZZLE_OPTIONS));
    const kek = newKek();
    const { apiKey } = await createCluster(database, { tenant: 'default', name: 'default', initialize: false, now: Date.now(), keyRing: await keyRingFrom([kek]) });
    mkdirSync(dockerConfig, { recursive: true });
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${apiKey}` } }));

    const config = await bundleWorker(join(dir, 'bundle'));
    worker = await startWrangler(config, { LIBSQL_URL: hrana.url, LIBSQL_AUTH_TOKEN: TOKEN, KEK: kek }, join(dir, 'wrangler-state'));
    env = { DOCKER_HOST: `tcp://127.0.0.1:${worker.port}`, DOCKER_CONFIG: dockerConfig };
  }, 150_000);

  afterAll(async () => {
    await worker?.stop();
    database?.close();
    await hrana?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers docker version from the Worker, and refuses a request without the API key', async () => {
    const before = hrana.stats.pipelines;
    const version = await docker(['version'], env);
    expect(version).toMatchObject({ code: 0 });
    expect(version.stdout).toMatch(/Server: swarmlet control plane/);
    expect(version.stdout).toMatch(/API version:\s+1\.41 \(minimum version 1\.24\)/);
    await eventually(async () => /GET \/v1\.\d+\/version 200/.test(worker.output()), 5_000);
    // The key was checked against the remote database.
    expect(hrana.stats.pipelines).toBeGreaterThan(before);
    const anonymous = await docker(['service', 'ls'], { ...env, DOCKER_CONFIG: join(dir, 'no-config') });
    expect(anonymous.code).not.toBe(0);
  });

  it('runs docker swarm init, service create, service ls and service ps', async () => {
    const init = await expectSwarmInit(env);
    expect(init.stdout).toContain(`127.0.0.1:${worker.port}`);
    // No Node control plane runs: the tasks can only come from the Worker's own leader sweep
    // (ctx.waitUntil after the write). With no agents they stay pending.
    await expectPendingService(env);
    const lease = await database.client.execute('SELECT holder, epoch FROM leases');
    expect(lease.rows).toHaveLength(1);
    expect(String(lease.rows[0]!.holder)).toMatch(/^worker-[0-9a-f]{8}$/);
  });

  it('serves the dashboard from the Worker: sign in, the overview, the pending reason, a live answer', async () => {
    const key = (JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8')) as { HttpHeaders: { Authorization: string } }).HttpHeaders.Authorization.replace('Bearer ', '');
    const signIn = await fetch(`${worker.url}/ui/sign-in`, { method: 'POST', body: new URLSearchParams({ apiKey: key }), redirect: 'manual' });
    expect(signIn.status).toBe(303);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const overview = await fetch(`${worker.url}/ui`, { headers: { Cookie: cookie } });
    expect(overview.status).toBe(200);
    expect(overview.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await overview.text()).toMatch(/<a href="\/ui\/services\/\w+">w<\/a>.*0\/2/s);
    expect(await (await fetch(`${worker.url}/ui/services/w`, { headers: { Cookie: cookie } })).text()).toContain('no suitable node');
    const live = (await (await fetch(`${worker.url}/ui/live/overview?index=0`, { headers: { Cookie: cookie } })).json()) as { index: number; fragments: Record<string, string> };
    expect(live.index).toBeGreaterThan(0);
    expect(live.fragments.services).toContain('>w</a>');
  });

  it('serves concurrent writes in one isolate, each followed by its own leader sweep', async () => {
    const names = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const created = await Promise.all(
      names.map((n) => docker(['service', 'create', '--detach', '--replicas', '1', '--name', n, 'local/busybox:1', 'sleep', '60'], env, { timeoutMs: 30_000 })),
    );
    expect(created.map((r) => [r.code, r.stderr])).toEqual(names.map(() => [0, '']));
    const perService = async () =>
      (await database.client.execute('SELECT s.name AS name, count(t.id) AS n FROM services s LEFT JOIN tasks t ON t.service_id = s.id GROUP BY s.name ORDER BY s.name')).rows.map((r) => [r.name, r.n]);
    await eventually(async () => (await perService()).every(([, n]) => Number(n) > 0), 20_000);
    expect(await perService()).toEqual([...names.map((n) => [n, 1]), ['w', 2]]);
  });

  it('serves /healthz, /readyz and a key\'s own cluster\'s /metrics from the isolate', async () => {
    expect(await (await fetch(`${worker.url}/healthz`)).text()).toBe('ok\n');
    const ready = await fetch(`${worker.url}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([200, 'ready\n']);
    expect((await fetch(`${worker.url}/metrics`)).status).toBe(401);
    const auth = JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8')).HttpHeaders.Authorization as string;
    const metrics = await fetch(`${worker.url}/metrics`, { headers: { Authorization: auth } });
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    // State gauges from the database; the request series from this isolate's memory.
    expect(text).toMatch(/^swarmlet_tasks\{cluster="\w+",desired_state="running",state="pending"\} [1-9]\d*$/m);
    expect(text).toMatch(/^swarmlet_http_requests_total\{cluster="\w+",method="POST",route="\/services\/create",status="201"\} [1-9]\d*$/m);
    expect(text).not.toContain('swarmlet_leader_lease');
  });

  it('runs the service on two agents joined to the Worker: 2/2 running', async () => {
    // Agents' heartbeats and task reports (POST /agent/v1/status) arrive as separate requests; on
    // Workers none of them may wait on a commit made from another request's context.
    const token = (await docker(['swarm', 'join-token', '-q', 'worker'], env)).stdout.trim();
    const agents = await Promise.all([0, 1].map(() => SimAgent.start(worker.url, token, nodeInfo(), { waitMs: 5_000 })));
    try {
      await eventually(async () => /^\w+\s+w\s+replicated\s+2\/2\s/m.test((await docker(['service', 'ls'], env)).stdout), 10_000);
      const ps = await docker(['service', 'ps', 'w'], env);
      const running = ps.stdout.split('\n').filter((l) => /^\w+\s+w\.\d\s.*Running\s+Running /.test(l));
      // Both on the agents (not necessarily one each: the first to join may take both before the other arrives).
      expect(running).toHaveLength(2);
      for (const line of running) expect(agents.map((a) => a.info.hostname)).toContain(line.split(/\s+/)[3]);
      // Heartbeats arriving together (the control plane may coalesce them) are each answered.
      for (let round = 0; round < 5; round++) {
        const replies = await Promise.all(agents.map((a) => a.report([])));
        expect(replies.map((r) => r.status)).toEqual([200, 200]);
      }
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
    }
    await eventually(async () => /POST \/agent\/v1\/status \d+/.test(worker.output()), 5_000);
    expect(worker.output()).not.toMatch(/POST \/agent\/v1\/status 500|hung/);
  }, 60_000);

  it('wakes a long-poll on another instance\'s write after the long-poll that last polled has ended', async () => {
    // On Workers a timer dies with the request that set it: the index poll must not live in one
    // long-poll's request only (control-plane/notifier.ts, pollFromEachWaiter).
    const token = (await docker(['swarm', 'join-token', '-q', 'worker'], env)).stdout.trim();
    const agent = new SimAgent(worker.url, nodeInfo());
    expect((await agent.join(token)).status).toBe(200);
    const answer = (await agent.assignments(0)).body;
    // A Worker registers nothing: its own URL is the one instance agents are given.
    expect(answer.controlPlaneUrls).toEqual([worker.url]);
    let index = answer.index;
    // Settle: a long-poll that times out with the index unchanged.
    for (let i = 0; ; i++) {
      const t = Date.now();
      const r = await agent.assignments(index, '1s');
      if (r.body.index === index && Date.now() - t >= 900) break;
      if (i > 10) throw new Error('assignments index never settled');
      index = r.body.index;
    }
    const start = Date.now();
    const first = agent.assignments(index, '1s');
    await new Promise((r) => setTimeout(r, 200));
    const second = agent.assignments(index, '20s');
    expect((await first).body.index).toBe(index); // ended by its timeout, taking its timers with it
    await new Promise((r) => setTimeout(r, 1000));
    // What another instance's write to this node does: bump the cluster index, stamp the row with it.
    const bumped = await database.client.execute('UPDATE clusters SET change_index = change_index + 1 RETURNING change_index');
    const changeIndex = Number(bumped.rows[0]!.change_index);
    await database.client.execute({ sql: 'UPDATE nodes SET version = ? WHERE id = ?', args: [changeIndex, agent.nodeId] });
    const writtenAt = Date.now() - start;
    const woken = await second;
    const tookMs = Date.now() - start - writtenAt;
    expect(woken).toMatchObject({ status: 200, body: { index: changeIndex } });
    // Seen by the next index poll (500 ms on Workers), long before the 20 s wait ends.
    expect(tookMs).toBeLessThan(3_000);
  }, 60_000);

  it('streams docker events from the Worker: a change written by another instance arrives', async () => {
    const events = watchOutput(spawn('docker', ['events', '--filter', 'type=service'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }), 'docker events');
    try {
      await new Promise((r) => setTimeout(r, 1000));
      // Another instance's write: a service row's removal recorded as such, straight into the database.
      const cluster = String((await database.client.execute('SELECT id FROM clusters')).rows[0]!.id);
      await database.client.execute({
        sql: `INSERT INTO events (cluster_id, type, action, actor_id, attributes, time) VALUES (?, 'service', 'remove', 'zzzzzzzzzzzzzzzzzzzzzzzzz', '{"name":"elsewhere"}', ?)`,
        args: [cluster, Date.now()],
      });
      await database.client.execute({ sql: 'UPDATE clusters SET change_index = change_index + 1 WHERE id = ?', args: [cluster] });
      await events.waitForOutput(/service remove zzzzzzzzzzzzzzzzzzzzzzzzz \(name=elsewhere\)/, 10_000);
    } finally {
      await events.stop();
    }
  }, 30_000);

  it('runs the cron trigger (scheduled) as a leader sweep that renews the lease', async () => {
    const expiresAt = async () => Number((await database.client.execute('SELECT expires_at FROM leases')).rows[0]!.expires_at);
    const before = await expiresAt();
    const res = await fetch(`${worker.url}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*`);
    expect(res.status).toBe(200);
    await res.text();
    await eventually(async () => (await expiresAt()) > before, 10_000);
  });

  it('logged no uncaught error, hung request or cross-request promise in the Worker', () => {
    expect(worker.output()).toMatch(/POST \/v1\.41\/services\/create 201/);
    expect(worker.output()).not.toMatch(/Uncaught|hung|different request context| 500 /);
  });
});
