/**
 * Prepared statements kept per connection (LIBSQL_STATEMENT_CACHE) against prepared anew each time
 * (0): the long-poll's own reads (its index, and its whole answer) repeated on one database file of
 * NODES nodes' tasks, in alternating rounds so the machine's load falls on both alike.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assignmentsIndexes, nodesAssignments } from '../control-plane/agent-api/assignments.ts';
import { keyRingFrom } from '../control-plane/auth/envelope.ts';
import { DATABASE_DEFAULTS } from '../control-plane/config.ts';
import type { Database } from '../control-plane/db/database.ts';
import { openDatabase } from '../control-plane/db/open.ts';
import { quick, recordMetric, runWhenMain } from './results.ts';

const NODES = quick ? 10 : 40;
const TASKS_PER_NODE = 50;
const EXECUTIONS = quick ? 1000 : 10_000;
const ROUNDS = 5;
const CLUSTER = 'bench-cluster';

/** One cluster, one service, TASKS_PER_NODE running tasks on each node. */
async function seed(database: Database): Promise<void> {
  const now = Date.now();
  await database.client.batch(
    [
      { sql: `insert into tenants (id, name, created_at) values ('bench', 'bench', ?)`, args: [now] },
      {
        sql: `insert into clusters (id, tenant_id, name, manager_node_id, spec, signing_key, created_at, updated_at) values (?, 'bench', 'bench', 'node-0', '{}', '{}', ?, ?)`,
        args: [CLUSTER, now, now],
      },
    ],
    'write',
  );
  const insertTask = `insert into tasks (id, cluster_id, service_id, slot, node_id, spec, spec_hash, desired_state, state, status_at, version, created_at, updated_at)
    values (?, ?, 'svc', ?, ?, '{"ContainerSpec":{"Image":"local/busybox:1"}}', 'h', 'running', 'running', ?, ?, ?, ?)`;
  const rows = Array.from({ length: NODES * TASKS_PER_NODE }, (_, i) => ({
    sql: insertTask,
    args: [`task-${i}`, CLUSTER, i + 1, `node-${i % NODES}`, now, i + 1, now, now],
  }));
  await database.client.batch(rows, 'write');
}

export async function run(): Promise<void> {
  console.log(`\n# statements: ${EXECUTIONS} long-poll reads per mode, ${NODES} nodes × ${TASKS_PER_NODE} tasks`);
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-bench-stmt-'));
  const kek = await keyRingFrom([randomBytes(32).toString('base64')]);
  const timing = { heartbeatPeriodMs: 2000, taskDrainMs: 0, controlPlaneUrls: [] };
  const reads = {
    // One node's, as a long-poll asked alone (a batch of one) reads them.
    index: (db: Database, i: number) => assignmentsIndexes(db.db, CLUSTER, [`node-${i % NODES}`]),
    answer: (db: Database, i: number) => nodesAssignments(db.db, CLUSTER, new Map([[`node-${i % NODES}`, i + 1]]), timing, kek),
  };
  try {
    const modes = await Promise.all(
      [256, 0].map(async (statementCacheSize) => {
        const database = await openDatabase(`file:${join(dir, `cache-${statementCacheSize}.db`)}`, undefined, { ...DATABASE_DEFAULTS, statementCacheSize });
        await seed(database);
        return { statementCacheSize, database };
      }),
    );
    for (const [name, read] of Object.entries(reads)) {
      const ms = new Map<number, number>(modes.map((m) => [m.statementCacheSize, 0]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const { statementCacheSize, database } of modes) {
          const started = performance.now();
          for (let i = 0; i < EXECUTIONS / ROUNDS; i++) await read(database, i);
          ms.set(statementCacheSize, ms.get(statementCacheSize)! + performance.now() - started);
        }
      }
      const kept = ms.get(256)!;
      const fresh = ms.get(0)!;
      recordMetric(`db.longpoll_${name}_per_s`, (EXECUTIONS / kept) * 1000, 'reads/s', { statements: 'kept', executions: EXECUTIONS, nodes: NODES });
      recordMetric(`db.longpoll_${name}_per_s`, (EXECUTIONS / fresh) * 1000, 'reads/s', { statements: 'prepared each time', executions: EXECUTIONS, nodes: NODES });
      console.log(`  ${name}: ${EXECUTIONS} in ${kept.toFixed(0)} ms with statements kept, ${fresh.toFixed(0)} ms prepared each time (${(fresh / kept).toFixed(2)}×)`);
    }
    for (const { database } of modes) database.client.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
