import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { spawnTs, type WatchedProcess } from '../harness/process-output.ts';

const TOKEN = 'shutdown-token';
const GRACE_MS = 2000;

/**
 * A stop (SIGTERM) finishes the leader's pass, gives the lease back and deregisters, but a database
 * that does not answer must not hold it: on a remote libSQL gone quiet a stop hung for minutes
 * (bench/README.md, issue 13). The libSQL server here is the Hrana double in a process of its own,
 * paused with SIGSTOP: connections open, nothing answered.
 */
describe('stopping the control plane while its database does not answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-shutdown-'));
  let hrana: WatchedProcess | undefined;
  let cp: ControlPlaneProcess | undefined;
  afterAll(async () => {
    hrana?.proc.kill('SIGCONT');
    await cp?.stop('SIGKILL');
    await hrana?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`exits within SHUTDOWN_GRACE_MS and says what it left undone`, async () => {
    hrana = spawnTs('bench/hrana-process.ts', [], { HRANA_FILE: join(dir, 'remote.db'), HRANA_TOKEN: TOKEN, HRANA_RTT_MS: '0' }, 'hrana server');
    const url = (await hrana.waitForOutput(/url (\S+)/)).replace(/^url /, '');
    cp = await startControlPlane({
      dataDir: join(dir, 'data'),
      env: { LIBSQL_URL: url, LIBSQL_AUTH_TOKEN: TOKEN, INSTANCE_ID: 'cp-stopping', SHUTDOWN_GRACE_MS: String(GRACE_MS) },
    });
    await cp.waitForOutput(/leader: holding the lease at epoch \d+/);
    hrana.proc.kill('SIGSTOP');
    const stopping = performance.now();
    cp.proc.kill('SIGTERM');
    const exit = await Promise.race([cp.exited, new Promise<'hung'>((resolve) => setTimeout(resolve, GRACE_MS + 8000, 'hung'))]);
    const tookMs = performance.now() - stopping;
    console.log(`stopped after ${tookMs.toFixed(0)} ms with the database paused (grace ${GRACE_MS} ms)`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(cp.output()).toContain(`did not finish within SHUTDOWN_GRACE_MS (${GRACE_MS} ms)`);
  }, 60_000);
});
