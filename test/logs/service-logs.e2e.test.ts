/**
 * `docker service logs` end to end: the real docker CLI, a control plane process, the real
 * swarm-agent and the real Docker engine running the service's containers.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { beforeAll, describe, expect, it } from 'vitest';
import { useAgentCluster } from '../harness/agent-cluster.ts';
import { docker, eventually } from '../harness/docker-cli.ts';

const cluster = useAgentCluster('logs-e2e');
const { run: RUN, hostname } = cluster;
const service = `lines-${RUN}`;
let taskIds: string[] = [];

/** `<service>.<slot>.<task id, 12>@<hostname>    | line <n>` as the CLI prints it. */
const LINE = new RegExp(`^${service}\\.([12])\\.([0-9a-z]{12})@${hostname}\\s+\\| line (\\d+)$`);

function parse(stdout: string) {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = LINE.exec(l);
      if (!m) throw new Error(`unexpected log line: ${JSON.stringify(l)}`);
      return { slot: Number(m[1]), task: m[2]!, n: Number(m[3]) };
    });
}

beforeAll(async () => {
  await cluster.createService(service, ['--replicas', '2', 'local/busybox:1', 'sh', '-c', 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done']);
  taskIds = await eventually(async () => {
    const ps = await docker(['service', 'ps', '--no-trunc', '--format', '{{.ID}} {{.CurrentState}}', service], cluster.env);
    const rows = ps.stdout.trim().split('\n').filter(Boolean);
    return rows.length === 2 && rows.every((r) => r.includes(' Running')) ? rows.map((r) => r.split(' ')[0]!) : undefined;
  }, 60_000);
  // Each task has written a few lines.
  await new Promise((r) => setTimeout(r, 1_000));
}, 120_000);

describe('docker service logs with the real agent', () => {
  it('prints every task\'s lines as "<svc>.<slot>.<task>@<host>    | line"', async () => {
    const started = Date.now();
    const res = await docker(['service', 'logs', service], cluster.env, { timeoutMs: 30_000 });
    const took = Date.now() - started;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const lines = parse(res.stdout);
    for (const slot of [1, 2]) {
      const mine = lines.filter((l) => l.slot === slot).map((l) => l.n);
      // From the first line on, in order, without gaps.
      expect(mine.length).toBeGreaterThanOrEqual(3);
      expect(mine).toEqual(mine.map((_, i) => i));
    }
    expect(new Set(lines.map((l) => l.task))).toEqual(new Set(taskIds.map((id) => id.slice(0, 12))));
    // Ends when the node has sent everything, not on a timeout.
    expect(took).toBeLessThan(5_000);
  });

  it('takes --tail per task and puts timestamps first with -t', async () => {
    const res = await docker(['service', 'logs', '--tail', '1', '-t', service], cluster.env, { timeoutMs: 30_000 });
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+Z ${service}\\.[12]\\.[0-9a-z]{12}@${hostname}\\s+\\| line \\d+$`));
  });

  it('streams new lines with -f until interrupted, then the node stops sending', async () => {
    const before = Math.max(...parse((await docker(['service', 'logs', '--tail', '1', service], cluster.env)).stdout).map((l) => l.n));
    const cli = spawn('docker', ['service', 'logs', '-f', '--tail', '0', service], { env: { ...process.env, ...cluster.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => cli.once('exit', r));
    try {
      // Lines written after the CLI started, from both tasks, as they come.
      await eventually(async () => {
        const lines = out.includes('\n') ? parse(out.slice(0, out.lastIndexOf('\n') + 1)) : [];
        return [1, 2].every((slot) => lines.filter((l) => l.slot === slot && l.n > before).length >= 3);
      }, 15_000, 100);
    } finally {
      cli.kill('SIGINT');
      await exited;
    }
    // The client went away: the request is closed (the agent sees it gone, and a late post gets 410), and its chunks are dropped.
    const db = createClient({ url: `file:${join(cluster.cp.dataDir, 'control-plane.db')}` });
    try {
      await eventually(async () => {
        const rs = await db.execute('select count(*) as open from log_requests where closed_at is null and done_at is null');
        return Number(rs.rows[0]!.open) === 0;
      }, 10_000);
      await new Promise((r) => setTimeout(r, 1_000));
      const chunks = await db.execute('select count(*) as n from log_chunks');
      expect(Number(chunks.rows[0]!.n)).toBe(0);
    } finally {
      db.close();
    }
  });

  it('shows one task\'s logs by task ID, and "no such task or service" for an unknown name', async () => {
    const one = await docker(['service', 'logs', '--tail', '2', taskIds[1]!], cluster.env, { timeoutMs: 30_000 });
    expect(one.code, one.stderr).toBe(0);
    const lines = parse(one.stdout);
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.task === taskIds[1]!.slice(0, 12))).toBe(true);

    const missing = await docker(['service', 'logs', `nosuch-${RUN}`], cluster.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`no such task or service: nosuch-${RUN}`);
  });
});
