import { createClient, type Client } from '@libsql/client';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { startHranaServer, type HranaServer } from '../harness/hrana-server.ts';

const TOKEN = 'remote-libsql-token';
const ROOT = resolve(import.meta.dirname, '../..');

/**
 * `npm start` with LIBSQL_URL=http://...: the real control-plane process keeps all its state in a
 * libSQL server (our Hrana test server) and the real docker CLI drives it.
 */
describe('control plane on a remote libSQL server (LIBSQL_URL=http://...)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-remote-'));
  const dataDir = join(dir, 'data');
  let hrana: HranaServer;
  let cp: ControlPlaneProcess;
  let db: Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    hrana = await startHranaServer({ file: join(dir, 'remote.db'), authToken: TOKEN });
    cp = await startControlPlane({ dataDir, env: { LIBSQL_URL: hrana.url, LIBSQL_AUTH_TOKEN: TOKEN, INSTANCE_ID: 'cp-remote' } });
    env = cp.dockerEnv;
    db = createClient({ url: hrana.url, authToken: TOKEN });
  });
  afterAll(async () => {
    db?.close();
    await cp?.stop();
    await hrana?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts on the server, bootstraps there and keeps no local database', async () => {
    expect(cp.output()).toContain(`database ${hrana.url}`);
    expect(cp.output()).toContain('first start: created the default tenant, cluster and API key');
    await cp.waitForOutput(/leader: holding the lease at epoch 1/);
    // Everything went to the server: no SQLite file in DATA_DIR, only the docker CLI config.
    expect(readdirSync(dataDir)).toEqual(['docker']);
    expect(existsSync(join(dataDir, 'docker', 'config.json'))).toBe(true);
    const clusters = await db.execute('SELECT name FROM clusters');
    expect(clusters.rows.map((r) => r.name)).toEqual(['default']);
    const lease = await db.execute('SELECT holder, epoch FROM leases');
    expect(lease.rows.map((r) => [r.holder, r.epoch])).toEqual([['cp-remote', 1]]);
    expect(hrana.stats.pipelines).toBeGreaterThan(0);
  });

  it('refuses to start with a wrong LIBSQL_AUTH_TOKEN', async () => {
    const refusedBefore = hrana.stats.unauthorized;
    const proc = spawn(process.execPath, ['--import', 'tsx', 'control-plane/server.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', DATA_DIR: join(dir, 'bad'), LIBSQL_URL: hrana.url, LIBSQL_AUTH_TOKEN: 'wrong' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    const code = await new Promise((r) => proc.once('exit', r));
    clearTimeout(timer);
    expect({ code, out }).toMatchObject({ code: 1, out: expect.stringContaining('control plane failed to start') });
    expect(hrana.stats.unauthorized).toBeGreaterThan(refusedBefore);
  });

  it('serves docker swarm init, service create, service ls and service ps', async () => {
    const init = await docker(['swarm', 'init'], env);
    expect(init).toMatchObject({ code: 0 });
    expect(init.stdout).toMatch(/Swarm initialized: current node \(\w+\) is now a manager/);

    const create = await docker(['service', 'create', '--detach', '--replicas', '2', '--name', 'w', 'local/busybox:1', 'sleep', '60'], env);
    expect(create.stderr).not.toMatch(/error/i);
    expect(create).toMatchObject({ code: 0 });
    const serviceId = create.stdout.trim();
    expect(serviceId).toMatch(/^[a-z0-9]{25}$/);

    const ls = await docker(['service', 'ls'], env);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`^${serviceId.slice(0, 12)}\\s+w\\s+replicated\\s+0/2\\s+local/busybox:1\\s*$`, 'm'));

    // The leader loop (on the same remote database) creates the two tasks; with no agents they stay pending.
    const pending = /local\/busybox:1\s+Running\s+Pending .* ago\s+"no suitable node/;
    let last = '';
    const ps = await eventually(async () => {
      const r = await docker(['service', 'ps', 'w', '--no-trunc'], env);
      last = r.stdout + r.stderr;
      const lines = r.stdout.trim().split('\n').slice(1);
      return r.code === 0 && lines.length === 2 && lines.every((l) => pending.test(l)) ? lines : undefined;
    }, 20_000).catch((err: Error) => Promise.reject(new Error(`${err.message}; last docker service ps:\n${last}`)));
    expect(ps.map((l) => l.split(/\s+/)[1]).sort()).toEqual(['w.1', 'w.2']);

    // And the rows are on the server.
    const tasks = await db.execute({ sql: 'SELECT slot, desired_state, state FROM tasks WHERE service_id = ? ORDER BY slot', args: [serviceId] });
    expect(tasks.rows.map((r) => [r.slot, r.desired_state, r.state])).toEqual([
      [1, 'running', 'pending'],
      [2, 'running', 'pending'],
    ]);
  });
});
