import { createClient, type Client } from '@libsql/client';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { startHranaServer, type HranaServer } from '../harness/hrana-server.ts';
import { spawnTs } from '../harness/process-output.ts';
import { expectPendingService, expectSwarmInit } from './pending-service.ts';

const TOKEN = 'remote-libsql-token';

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
    // Everything went to the server: no SQLite file in DATA_DIR, only the docker CLI config, the
    // key-encryption key and the cluster CA, which never go to the server that holds the sealed keys.
    expect(readdirSync(dataDir).sort()).toEqual(['docker', 'kek', 'tls']);
    expect(existsSync(join(dataDir, 'docker', 'config.json'))).toBe(true);
    const clusters = await db.execute('SELECT name FROM clusters');
    expect(clusters.rows.map((r) => r.name)).toEqual(['default']);
    const lease = await db.execute('SELECT holder, epoch FROM leases');
    expect(lease.rows.map((r) => [r.holder, r.epoch])).toEqual([['cp-remote', 1]]);
    expect(hrana.stats.pipelines).toBeGreaterThan(0);
  });

  it('refuses to start with a wrong LIBSQL_AUTH_TOKEN', async () => {
    const refusedBefore = hrana.stats.unauthorized;
    const proc = spawnTs('control-plane/server.ts', [], { PORT: '0', DATA_DIR: join(dir, 'bad'), LIBSQL_URL: hrana.url, LIBSQL_AUTH_TOKEN: 'wrong' }, 'control plane');
    const timer = setTimeout(() => proc.proc.kill('SIGKILL'), 20_000);
    const { code } = await proc.exited;
    clearTimeout(timer);
    expect({ code, out: proc.output() }).toMatchObject({ code: 1, out: expect.stringContaining('control plane failed to start') });
    expect(hrana.stats.unauthorized).toBeGreaterThan(refusedBefore);
  });

  it('serves docker swarm init, service create, service ls and service ps', async () => {
    await expectSwarmInit(env);
    // The leader loop (on the same remote database) creates the two tasks; with no agents they stay pending.
    const serviceId = await expectPendingService(env);

    // And the rows are on the server.
    const tasks = await db.execute({ sql: 'SELECT slot, desired_state, state FROM tasks WHERE service_id = ? ORDER BY slot', args: [serviceId] });
    expect(tasks.rows.map((r) => [r.slot, r.desired_state, r.state])).toEqual([
      [1, 'running', 'pending'],
      [2, 'running', 'pending'],
    ]);
  });
});
