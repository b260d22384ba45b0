import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Balancer, Ejections, type Endpoint, meshRoutes, raceConnect } from '../../agent/ingress-backends.ts';

const port = { Protocol: 'tcp' as const, TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' as const };
const local = (taskId: string): Endpoint => ({ taskId, nodeId: 'me', host: `10.0.0.${taskId.slice(1)}`, port: 80, local: true });
const remote = (taskId: string, nodeId = `n-${taskId}`): Endpoint => ({ taskId, nodeId, host: `10.0.0.${taskId.slice(1)}`, port: 80, local: false });

describe('meshRoutes', () => {
  it('reaches every task at its ingress address on the target port, wherever it runs', () => {
    const routes = meshRoutes(
      [
        {
          serviceId: 'svc',
          ports: [port, { ...port, PublishedPort: 9000, PublishMode: 'host' }],
          backends: [
            { taskId: 't1', nodeId: 'me', address: '10.0.0.5' },
            { taskId: 't2', nodeId: 'me' },
            { taskId: 't3', nodeId: 'me' },
            { taskId: 't4', nodeId: 'other', address: '10.0.0.7' },
            { taskId: 't5', nodeId: 'other' },
          ],
        },
      ],
      'me',
      new Map([['t2', '172.17.0.5']]),
    );
    expect([...routes.keys()]).toEqual(['8080/tcp']);
    const route = routes.get('8080/tcp')!;
    expect(route.serviceId).toBe('svc');
    // t2 predates the published port: its own node reaches it at its container; t3's container is
    // not known yet and t5 (elsewhere, no ingress address) is not reachable from here: both left out.
    expect(route.endpoints).toEqual([
      { taskId: 't1', nodeId: 'me', host: '10.0.0.5', port: 80, local: true },
      { taskId: 't2', nodeId: 'me', host: '172.17.0.5', port: 80, local: true },
      { taskId: 't4', nodeId: 'other', host: '10.0.0.7', port: 80, local: false },
    ]);
  });

  it('keeps a service without running tasks listening (connections then fail fast)', () => {
    const routes = meshRoutes([{ serviceId: 'svc', ports: [port], backends: [] }], 'me', new Map());
    expect(routes.get('8080/tcp')?.endpoints).toEqual([]);
  });
});

describe('Balancer', () => {
  it('takes every task in turn, local and remote alike, as IPVS round robin does', () => {
    const b = new Balancer();
    b.set([local('t1'), remote('t2'), remote('t3')]);
    const firsts = Array.from({ length: 6 }, () => b.order()[0]!.taskId);
    expect(firsts).toEqual(['t1', 't2', 't3', 't1', 't2', 't3']);
  });

  it('tries every endpoint once per connection, in rotation, so a dead one falls through to the next', () => {
    const b = new Balancer();
    b.set([local('t1'), local('t2'), local('t3')]);
    b.order();
    expect(b.order().map((e) => e.taskId)).toEqual(['t2', 't3', 't1']);
  });

  it('puts ejected endpoints last, and a node found unreachable with all its tasks', () => {
    let now = 0;
    const ejections = new Ejections(2_000, () => now);
    const b = new Balancer(ejections);
    b.set([remote('t1', 'n-a'), remote('t2', 'n-a'), remote('t3', 'n-b'), local('t4')]);
    ejections.unreachable(b.endpoints[0]!);
    expect(b.order().map((e) => e.taskId)).toEqual(['t3', 't4', 't1', 't2']);
    ejections.refused(b.endpoints[3]!);
    expect(b.order().map((e) => e.taskId)).toEqual(['t3', 't2', 't4', 't1']);
    // Ejections end: everything is in turn again.
    now = 2_001;
    expect(b.order().map((e) => e.taskId)).toEqual(['t3', 't4', 't1', 't2']);
  });

  it('a node that answers again is back at once', () => {
    const ejections = new Ejections();
    const e = remote('t1', 'n-a');
    ejections.unreachable(e);
    expect(ejections.isEjected(remote('t9', 'n-a'))).toBe(true);
    ejections.connected(e);
    expect(ejections.isEjected(remote('t9', 'n-a'))).toBe(false);
  });

  it('drops a removed endpoint from the next connection on', () => {
    const b = new Balancer();
    b.set([local('t1'), local('t2'), local('t3')]);
    b.order();
    b.set([local('t1'), local('t3')]);
    const seen = Array.from({ length: 4 }, () => b.order()[0]!.taskId);
    expect(seen).not.toContain('t2');
    expect(new Set(seen)).toEqual(new Set(['t1', 't3']));
  });
});

/** A connector whose attempts settle as a test scripts them, each after `ms`. */
function scripted(plan: Record<string, { ms: number; ok: boolean; code?: string }>) {
  const started: string[] = [];
  const destroyed: string[] = [];
  const connector = (e: Endpoint) => {
    started.push(e.taskId);
    const step = plan[e.taskId]!;
    return new Promise<Socket>((resolve, reject) =>
      setTimeout(() => {
        if (step.ok) resolve({ destroy: () => destroyed.push(e.taskId) } as unknown as Socket);
        else reject(Object.assign(new Error('failed'), { code: step.code ?? 'ECONNREFUSED' }));
      }, step.ms),
    );
  };
  return { connector, started, destroyed };
}

describe('raceConnect', () => {
  it('takes the first backend that answers', async () => {
    const s = scripted({ t1: { ms: 5, ok: true }, t2: { ms: 5, ok: true } });
    const won = await raceConnect([remote('t1'), remote('t2')], s.connector, new Ejections(), { hedgeMs: 100 });
    expect(won?.endpoint.taskId).toBe('t1');
    expect(s.started).toEqual(['t1']);
  });

  it('tries the next beside a slow one after the hedge delay, and the slow node is ejected after a second without answer', async () => {
    const ejections = new Ejections();
    const s = scripted({ t1: { ms: 400, ok: false, code: 'ETIMEDOUT' }, t2: { ms: 10, ok: true } });
    const t0 = Date.now();
    const won = await raceConnect([remote('t1', 'n-dead'), remote('t2')], s.connector, ejections, { hedgeMs: 50, unreachableAfterMs: 200 });
    expect(won?.endpoint.taskId).toBe('t2');
    expect(Date.now() - t0).toBeLessThan(300);
    expect(ejections.isEjected(remote('t1', 'n-dead'))).toBe(false);
    await new Promise((r) => setTimeout(r, 250));
    // Still connecting after unreachableAfterMs: the node is skipped from now on.
    expect(ejections.isEjected(remote('t7', 'n-dead'))).toBe(true);
  });

  it('moves on at once when one refuses, ejecting that backend alone', async () => {
    const ejections = new Ejections();
    const s = scripted({ t1: { ms: 1, ok: false }, t2: { ms: 1, ok: true } });
    const won = await raceConnect([remote('t1', 'n-a'), remote('t2', 'n-a')], s.connector, ejections, { hedgeMs: 10_000 });
    expect(won?.endpoint.taskId).toBe('t2');
    expect(ejections.isEjected(remote('t1', 'n-a'))).toBe(true);
    expect(ejections.isEjected(remote('t3', 'n-a'))).toBe(false);
  });

  it('closes a loser that connects after the winner, and answers undefined when none accepts', async () => {
    const s = scripted({ t1: { ms: 60, ok: true }, t2: { ms: 5, ok: true } });
    const won = await raceConnect([remote('t1'), remote('t2')], s.connector, new Ejections(), { hedgeMs: 10 });
    expect(won?.endpoint.taskId).toBe('t2');
    await new Promise((r) => setTimeout(r, 80));
    expect(s.destroyed).toEqual(['t1']);

    const none = scripted({ t1: { ms: 1, ok: false }, t2: { ms: 1, ok: false, code: 'EHOSTUNREACH' } });
    expect(await raceConnect([remote('t1'), remote('t2')], none.connector, new Ejections(), { hedgeMs: 10 })).toBeUndefined();
    expect(await raceConnect([], none.connector, new Ejections())).toBeUndefined();
  });
});
