import { describe, expect, it } from 'vitest';
import { Balancer, type Endpoint, meshRoutes, plainAddress } from '../../agent/ingress.ts';

const port = { Protocol: 'tcp' as const, TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' as const };
const local = (taskId: string): Endpoint => ({ taskId, nodeId: 'me', host: `172.17.0.${taskId.slice(1)}`, port: 80, local: true });
const remote = (taskId: string, addr: string): Endpoint => ({ taskId, nodeId: `n-${addr}`, host: addr, port: 8080, local: false });

describe('meshRoutes', () => {
  it('sends local tasks to their container on the target port and other nodes to their published port', () => {
    const routes = meshRoutes(
      [
        {
          serviceId: 'svc',
          ports: [port, { ...port, PublishedPort: 9000, PublishMode: 'host' }],
          backends: [
            { taskId: 't1', nodeId: 'me', addr: '10.0.0.1' },
            { taskId: 't2', nodeId: 'me', addr: '10.0.0.1' },
            { taskId: 't3', nodeId: 'other', addr: '10.0.0.2' },
          ],
        },
      ],
      'me',
      new Map([['t1', '172.17.0.5']]),
    );
    expect([...routes.keys()]).toEqual(['8080/tcp']);
    const route = routes.get('8080/tcp')!;
    expect(route.serviceId).toBe('svc');
    // t2 has no container address here yet: it is left out instead of failing connections.
    expect(route.endpoints).toEqual([
      { taskId: 't1', nodeId: 'me', host: '172.17.0.5', port: 80, local: true },
      { taskId: 't3', nodeId: 'other', host: '10.0.0.2', port: 8080, local: false },
    ]);
    expect([...route.peers]).toEqual(['10.0.0.2']);
  });

  it('keeps a service without running tasks listening (connections then fail fast)', () => {
    const routes = meshRoutes([{ serviceId: 'svc', ports: [port], backends: [] }], 'me', new Map());
    expect(routes.get('8080/tcp')?.endpoints).toEqual([]);
  });
});

describe('Balancer', () => {
  it('takes local tasks in turn', () => {
    const b = new Balancer();
    b.set([local('t1'), local('t2'), local('t3')]);
    const firsts = Array.from({ length: 6 }, () => b.order(false)[0]!.taskId);
    expect(firsts).toEqual(['t1', 't2', 't3', 't1', 't2', 't3']);
  });

  it('tries every endpoint once per connection, in rotation, so a dead one falls through to the next', () => {
    const b = new Balancer();
    b.set([local('t1'), local('t2'), local('t3')]);
    b.order(false);
    expect(b.order(false).map((e) => e.taskId)).toEqual(['t2', 't3', 't1']);
  });

  it('prefers local tasks and keeps other nodes as the fallback', () => {
    const b = new Balancer();
    b.set([remote('r1', '10.0.0.2'), local('t1'), remote('r2', '10.0.0.3'), local('t2')]);
    for (let i = 0; i < 4; i++) {
      const order = b.order(false);
      expect(order.slice(0, 2).every((e) => e.local)).toBe(true);
      expect(order.slice(2).map((e) => e.taskId).sort()).toEqual(['r1', 'r2']);
    }
  });

  it('spreads over other nodes when no task runs here', () => {
    const b = new Balancer();
    b.set([remote('r1', '10.0.0.2'), remote('r2', '10.0.0.3')]);
    expect([b.order(false)[0]!.taskId, b.order(false)[0]!.taskId, b.order(false)[0]!.taskId]).toEqual(['r1', 'r2', 'r1']);
  });

  it('serves a connection forwarded by another node only locally (one hop, no loops)', () => {
    const b = new Balancer();
    b.set([remote('r1', '10.0.0.2'), local('t1')]);
    expect(b.order(true).map((e) => e.taskId)).toEqual(['t1']);
    b.set([remote('r1', '10.0.0.2')]);
    expect(b.order(true)).toEqual([]);
  });

  it('drops a removed endpoint from the next connection on', () => {
    const b = new Balancer();
    b.set([local('t1'), local('t2'), local('t3')]);
    b.order(false);
    b.set([local('t1'), local('t3')]);
    const seen = Array.from({ length: 4 }, () => b.order(false)[0]!.taskId);
    expect(seen).not.toContain('t2');
    expect(new Set(seen)).toEqual(new Set(['t1', 't3']));
  });
});

it('plainAddress strips the IPv4-mapped prefix of dual-stack sockets', () => {
  expect(plainAddress('::ffff:10.0.0.2')).toBe('10.0.0.2');
  expect(plainAddress('10.0.0.2')).toBe('10.0.0.2');
});
