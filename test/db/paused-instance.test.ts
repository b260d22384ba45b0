import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { sleep } from '../harness/sim-agent.ts';
import { serviceSpec, SwarmClient } from '../harness/swarm-client.ts';

const WRITE_WAIT_MS = 2000;
const ENV = { LEASE_TTL_MS: '3000', LEASE_RENEW_MS: '1000', LEASE_RETRY_MS: '500', DB_WRITE_WAIT_MS: String(WRITE_WAIT_MS) };

/** Whether some process holds the file's write lock, asked of a real `sqlite3` that does not wait. */
function writeLockHeld(file: string): boolean {
  try {
    execFileSync('sqlite3', [file, 'BEGIN IMMEDIATE;', 'ROLLBACK;'], { stdio: 'pipe' });
    return false;
  } catch (err) {
    if (/locked|busy/i.test(String((err as { stderr?: Buffer }).stderr))) return true;
    throw err;
  }
}

/** The services the file holds, committed, read by a real `sqlite3`. */
const committedServices = (file: string) => Number(execFileSync('sqlite3', [file, 'select count(*) from services;']).toString().trim());

async function createService(api: SwarmClient, name: string): Promise<{ status: number; retryAfter: string | null; message: string; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${api.url}/v1.41/services/create`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${api.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(serviceSpec(name)),
  });
  const body = (await res.json()) as { message?: string };
  return { status: res.status, retryAfter: res.headers.get('Retry-After'), message: body.message ?? '', ms: performance.now() - started };
}

const listServices = async (api: SwarmClient) => (await api.request<unknown[]>('GET', '/services')).length;

describe('two control planes on one file, one paused while it holds the write lock', () => {
  const procs: ControlPlaneProcess[] = [];
  let dataDir = '';

  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGCONT');
      await p.stop('SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each(['SIGKILL', 'SIGCONT'] as const)('then %s: the other answers whole reads throughout and writes again at once', async (wake) => {
    dataDir = mkdtempSync(join(tmpdir(), 'swarmlet-paused-'));
    const file = join(dataDir, 'control-plane.db');
    const a = await startControlPlane({ dataDir, env: { ...ENV, INSTANCE_ID: 'cp-a' } });
    procs.push(a);
    await a.waitForOutput(/leader: holding the lease at epoch \d+/);
    const b = await startControlPlane({ dataDir, env: { ...ENV, INSTANCE_ID: 'cp-b' } });
    procs.push(b);
    const apiA = SwarmClient.forProcess(a);
    const apiB = SwarmClient.forProcess(b);
    await apiA.init();
    for (let i = 0; i < 20; i++) await apiA.createService(serviceSpec(`warm-${i}`));

    // Stop A in the middle of a write burst, until the stop lands inside one of its transactions.
    let held = false;
    for (let attempt = 0; attempt < 30 && !held; attempt++) {
      const burst = Array.from({ length: 20 }, (_, i) => apiA.createService(serviceSpec(`burst-${attempt}-${i}`)).catch(() => undefined));
      await sleep(10 + Math.random() * 40);
      a.proc.kill('SIGSTOP');
      // Held by the stopped A, not by a write of B's own (its instance registration, say) that the
      // check happened to meet: A's lock stays, B's is gone a moment later.
      held = writeLockHeld(file) && (await sleep(300), writeLockHeld(file));
      if (!held) {
        a.proc.kill('SIGCONT');
        await Promise.all(burst);
      }
    }
    expect(held).toBe(true);

    // While A sleeps on the lock: B's write fails alone, with a 503; its reads keep answering whole.
    const committed = committedServices(file);
    const refused = createService(apiB, 'during-pause');
    const counts: number[] = [];
    let slowestRead = 0;
    let settled = false;
    void refused.finally(() => (settled = true));
    while (!settled) {
      const started = performance.now();
      counts.push(await listServices(apiB));
      slowestRead = Math.max(slowestRead, performance.now() - started);
      await sleep(50);
    }
    const during = await refused;
    expect(during).toMatchObject({ status: 503, retryAfter: '1' });
    expect(during.message).toMatch(/database stayed locked by another process/);
    expect(during.ms).toBeGreaterThanOrEqual(WRITE_WAIT_MS - 300);
    expect(during.ms).toBeLessThan(WRITE_WAIT_MS + 1000);
    expect(counts.length).toBeGreaterThanOrEqual(3);
    expect(counts.every((n) => n === committed)).toBe(true);

    const failedRenewalsBefore = (b.output().match(/lease renewal failed/g) ?? []).length;
    const wokeAt = performance.now();
    if (wake === 'SIGKILL') await a.stop('SIGKILL');
    else a.proc.kill('SIGCONT');

    // The FIRST write of B after the lock is free succeeds, within a few seconds (after SIGCONT,
    // A's own queued burst and placement pass compete for the lock).
    const after = await createService(apiB, 'after-wake');
    expect(after.status).toBe(201);
    const firstWriteMs = performance.now() - wokeAt;
    expect(firstWriteMs).toBeLessThan(5000);
    if (wake === 'SIGKILL') await b.waitForOutput(/leader: holding the lease at epoch \d+/, 10_000);
    const leaderMs = performance.now() - wokeAt;

    // From now on B writes at once, and reads the whole list every time.
    for (let i = 0; i < 10; i++) expect((await createService(apiB, `later-${i}`)).status).toBe(201);
    await sleep(1500); // a lease renewal or takeover period
    const total = committedServices(file);
    for (let i = 0; i < 5; i++) expect(await listServices(apiB)).toBe(total);
    const failedRenewalsAfter = (b.output().match(/lease renewal failed/g) ?? []).length;
    expect(b.output()).not.toMatch(/statements in progress/);
    const wal = statSync(`${file}-wal`).size;
    console.log(
      `${wake}: write refused after ${during.ms.toFixed(0)} ms with ${counts.length} whole reads (${committed} services, slowest ${slowestRead.toFixed(0)} ms); ` +
        `first write after wake ${firstWriteMs.toFixed(0)} ms, B leads or follows after ${leaderMs.toFixed(0)} ms; ` +
        `B's failed lease renewals ${failedRenewalsBefore} during the pause, ${failedRenewalsAfter - failedRenewalsBefore} after; WAL ${wal} bytes`,
    );
    expect(failedRenewalsAfter - failedRenewalsBefore).toBeLessThanOrEqual(1);
  });
});
