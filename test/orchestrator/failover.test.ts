import { createClient, type Client } from '@libsql/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { eventually } from '../harness/docker-cli.ts';
import { nodeInfo, SimAgent, sleep } from '../harness/sim-agent.ts';
import { tasksWhere } from '../harness/sim-cluster.ts';
import { serviceSpec, SwarmClient } from '../harness/swarm-client.ts';

const LEASE = { LEASE_TTL_MS: '3000', LEASE_RENEW_MS: '1000', LEASE_RETRY_MS: '500', LOG_COMMITS: '1' };
const allRunning = (n: number) => (ts: any[]) => ts.length === n && ts.every((t) => t.Status.State === 'running');

/** Two control-plane processes on one database file: A starts first and leads, B follows. */
async function startPair(dataDir: string) {
  const a = await startControlPlane({ dataDir, env: { ...LEASE, INSTANCE_ID: 'cp-a' } });
  await a.waitForOutput(/leader: holding the lease at epoch \d+/);
  const b = await startControlPlane({ dataDir, env: { ...LEASE, INSTANCE_ID: 'cp-b' } });
  return { a, b };
}

const epochOf = (line: string) => Number(/epoch (\d+)/.exec(line)![1]);

/** Commit lines a process printed, with their epochs, in order. */
function commits(cp: ControlPlaneProcess): Array<{ epoch: number; placed: number; at: number }> {
  const out = cp.output();
  return [...out.matchAll(/commit cluster=\S+ index=\d+ epoch=(\d+) placed=(\d+)/g)].map((m) => ({
    epoch: Number(m[1]),
    placed: Number(m[2]),
    at: m.index!,
  }));
}

/** Invariants read straight from the shared database file. */
async function checkDatabase(db: Client) {
  // One live task per replica slot (and per node for global services).
  const dupes = await db.execute(`
    select service_id, slot, count(*) as n from tasks
    where desired_state in ('running', 'ready') and slot > 0
    group by service_id, slot having count(*) > 1`);
  expect(dupes.rows).toEqual([]);
  // A task is placed once: every placed task is on a node that exists, and no task is both
  // unassigned and past pending.
  const stray = await db.execute(`select id from tasks where node_id is null and state not in ('new', 'pending')`);
  expect(stray.rows).toEqual([]);
}

describe('two control planes sharing one database', () => {
  const dirs: string[] = [];
  const procs: ControlPlaneProcess[] = [];
  const agents: SimAgent[] = [];
  let db: Client | undefined;

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((x) => x.stop()));
    for (const p of procs.splice(0)) {
      if (p.proc.signalCode === null && p.proc.exitCode === null) p.proc.kill('SIGCONT');
      await p.stop('SIGKILL');
    }
    db?.close();
    db = undefined;
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function setup() {
    const dataDir = mkdtempSync(join(tmpdir(), 'swarmlet-failover-'));
    dirs.push(dataDir);
    const { a, b } = await startPair(dataDir);
    procs.push(a, b);
    db = createClient({ url: `file:${join(dataDir, 'control-plane.db')}`, timeout: 10_000 });
    const apiA = SwarmClient.forProcess(a);
    const apiB = SwarmClient.forProcess(b);
    await apiA.init();
    // Agents talk to B, the follower; A, the leader, places their tasks through the database.
    const token = await apiB.workerToken();
    for (let i = 0; i < 2; i++) agents.push(await SimAgent.start(b.url, token, nodeInfo()));
    return { a, b, apiA, apiB };
  }

  it('SIGKILL of the leader: the other takes the lease at a higher epoch and work continues', async () => {
    const { a, b, apiB } = await setup();
    const first = await apiB.createService(serviceSpec('before', { replicas: 4 }));
    await tasksWhere(apiB, first, allRunning(4));
    const epochA = epochOf(await a.waitForOutput(/leader: holding the lease at epoch \d+/));
    expect(commits(a).some((c) => c.placed > 0)).toBe(true);
    expect(commits(b)).toEqual([]); // B never led

    const killedAt = Date.now();
    await a.stop('SIGKILL');
    const epochB = epochOf(await b.waitForOutput(/leader: holding the lease at epoch \d+/, 10_000));
    expect(epochB).toBeGreaterThan(epochA);
    expect(Date.now() - killedAt).toBeLessThan(8000);

    const second = await apiB.createService(serviceSpec('after', { replicas: 3 }));
    await tasksWhere(apiB, second, allRunning(3));
    expect(commits(b).filter((c) => c.placed > 0).every((c) => c.epoch === epochB)).toBe(true);
    // The old service was left alone: the same four tasks, still running.
    expect(await apiB.liveTasks(first)).toHaveLength(4);
    await checkDatabase(db!);
  });

  it('SIGSTOP past the lease, then SIGCONT: the paused leader commits nothing under its old epoch', async () => {
    const { a, b, apiA, apiB } = await setup();
    const epochA = epochOf(await a.waitForOutput(/leader: holding the lease at epoch \d+/));
    await tasksWhere(apiB, await apiB.createService(serviceSpec('warm', { replicas: 2 })), allRunning(2));

    // Pause A right after it accepted a write, with its placement pass still due. A pause that lands
    // inside A's own transaction holds the database's write lock, so no one can take over; let it
    // finish and pause again (bounded).
    let serviceId = '';
    let epochB = 0;
    for (let attempt = 0; attempt < 3 && !epochB; attempt++) {
      serviceId = await apiA.createService(serviceSpec(`paused-${attempt}`, { replicas: 3 }));
      a.proc.kill('SIGSTOP');
      try {
        epochB = epochOf(await b.waitForOutput(/leader: holding the lease at epoch \d+/, 8000));
      } catch {
        a.proc.kill('SIGCONT');
        await sleep(300);
      }
    }
    expect(epochB).toBeGreaterThan(epochA);
    const outputAtTakeover = a.output().length;

    // B places the work A left, and new work.
    await tasksWhere(apiB, serviceId, allRunning(3));
    const fresh = await apiB.createService(serviceSpec('fresh', { replicas: 2 }));
    await tasksWhere(apiB, fresh, allRunning(2));

    // A wakes: its timers fire, it finds the lease gone, and writes nothing under epoch A.
    a.proc.kill('SIGCONT');
    await a.waitForOutput(/leader: not holding the lease/, 10_000);
    const later = await apiA.createService(serviceSpec('later', { replicas: 2 }));
    await tasksWhere(apiA, later, allRunning(2));
    await sleep(1500); // a few more of A's sweep and renewal periods
    const lateCommits = commits(a).filter((c) => c.at >= outputAtTakeover);
    expect(lateCommits).toEqual([]);
    expect(commits(b).every((c) => c.epoch === epochB)).toBe(true);
    expect(a.output().slice(outputAtTakeover)).not.toMatch(new RegExp(`epoch=${epochA}\\b`));

    // Every task placed once; each service has exactly its replicas, no spares.
    await checkDatabase(db!);
    const perService = await db!.execute(`
      select s.name, count(t.id) as n from services s join tasks t on t.service_id = s.id group by s.name`);
    const counts = Object.fromEntries(perService.rows.map((r) => [r.name as string, Number(r.n)]));
    expect(counts).toMatchObject({ warm: 2, fresh: 2, later: 2, [`paused-0`]: 3 });
    const lease = await db!.execute(`select holder, epoch from leases`);
    expect(lease.rows[0]).toMatchObject({ holder: 'cp-b', epoch: epochB });
  });

  it('joins racing on one single-use token through both processes: exactly one wins', async () => {
    const { a, b, apiA } = await setup();
    for (let round = 0; round < 3; round++) {
      const token = await apiA.singleUseToken();
      const replies = await Promise.all(
        Array.from({ length: 6 }, (_, i) => new SimAgent(i % 2 ? a.url : b.url, nodeInfo()).join(token)),
      );
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
      expect(replies.filter((r) => r.status === 401)).toHaveLength(5);
    }
    const nodes = await eventually(async () => (await db!.execute('select count(*) as n from nodes')).rows[0]);
    expect(Number(nodes.n)).toBe(2 + 3);
  });
});
