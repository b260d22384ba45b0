import { describe, expect, it } from 'vitest';
import { parseConstraint } from '../../control-plane/scheduler/constraints.ts';
import { type PendingTask, placeTasks } from '../../control-plane/scheduler/place.ts';
import type { TaskDemand } from '../../control-plane/scheduler/filters.ts';
import { demand, schedNode } from './fixtures.ts';

const pending = (n: number, d: TaskDemand, prefix = 't'): PendingTask[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i + 1}`, demand: d, nodeId: null }));

const countBy = (assigned: Array<{ nodeId: string }>) => {
  const m: Record<string, number> = {};
  for (const a of assigned) m[a.nodeId] = (m[a.nodeId] ?? 0) + 1;
  return m;
};

describe('placeTasks', () => {
  it('spreads over a label\'s groups first (nodes without it are a group too), then over the nodes of a group', () => {
    const nodes = [schedNode('a', { labels: { az: '1' } }), schedNode('b', { labels: { az: '1' } }), schedNode('c', { labels: { az: '2' } }), schedNode('d')];
    const { assigned, unplaced } = placeTasks(pending(6, demand({ spread: ['node.labels.az'] })), nodes);
    expect(unplaced).toEqual([]);
    expect(countBy(assigned)).toEqual({ a: 1, b: 1, c: 2, d: 2 });
    // Without the preference the same nodes share the tasks evenly instead.
    expect(countBy(placeTasks(pending(8, demand()), nodes.map((n) => schedNode(n.id, { labels: n.labels }))).assigned)).toEqual({ a: 2, b: 2, c: 2, d: 2 });
  });

  it('counts the service\'s tasks already in a group, and nests preferences level by level', () => {
    const nodes = [
      schedNode('a', { labels: { az: '1', rack: 'x' }, taskCount: 2, tasksPerService: new Map([['svc', 2]]) }),
      schedNode('b', { labels: { az: '1', rack: 'y' } }),
      schedNode('c', { labels: { az: '2', rack: 'x' } }),
    ];
    // az 1 holds 2 already: the next two go to az 2, then az 1's empty rack y before az 2 again.
    const { assigned } = placeTasks(pending(3, demand({ spread: ['node.labels.az', 'node.labels.rack'] })), nodes);
    expect(assigned.map((x) => x.nodeId)).toEqual(['c', 'c', 'b']);
  });

  it('spreads a service evenly over the nodes', () => {
    const { assigned, unplaced } = placeTasks(pending(7, demand()), [schedNode('a'), schedNode('b'), schedNode('c')]);
    expect(unplaced).toEqual([]);
    expect(countBy(assigned)).toEqual({ a: 3, b: 2, c: 2 });
  });

  it('spreads by the service\'s own tasks first, then by total load', () => {
    const busy = schedNode('a', { taskCount: 10, tasksPerService: new Map([['other', 10]]) });
    const mine = schedNode('b', { taskCount: 1, tasksPerService: new Map([['svc', 1]]) });
    const idle = schedNode('c');
    // c (no task of svc, idle) first, then a (no task of svc) before b.
    const { assigned } = placeTasks(pending(2, demand()), [busy, mine, idle]);
    expect(assigned.map((a) => a.nodeId)).toEqual(['c', 'a']);
  });

  it('updates each node\'s load as it places, so one pass never overfills', () => {
    const nodes = [schedNode('a', { nanoCpus: 2e9 }), schedNode('b', { nanoCpus: 1e9 })];
    const { assigned, unplaced } = placeTasks(pending(4, demand({ nanoCpus: 1e9 })), nodes);
    expect(countBy(assigned)).toEqual({ a: 2, b: 1 });
    expect(unplaced).toEqual([{ taskId: 't4', reason: 'no suitable node (insufficient resources on 2 nodes)' }]);
    expect(nodes[0]!.reservedCpus).toBe(2e9);
  });

  it('explains every filter that turned nodes away, with counts', () => {
    const d = demand({ memoryBytes: 6e9, constraints: [parseConstraint('node.labels.zone==east')], hostPorts: ['tcp/80'] });
    const nodes = [
      schedNode('down', { state: 'down', labels: { zone: 'east' } }),
      schedNode('paused', { availability: 'pause', labels: { zone: 'east' } }),
      schedNode('west', { labels: { zone: 'west' } }),
      schedNode('small', { memoryBytes: 4e9, labels: { zone: 'east' } }),
      schedNode('port', { hostPorts: new Set(['tcp/80']), labels: { zone: 'east' } }),
      schedNode('ok', { labels: { zone: 'east' } }),
    ];
    const { assigned, unplaced } = placeTasks(pending(2, d), nodes);
    expect(assigned).toEqual([{ taskId: 't1', nodeId: 'ok' }]);
    // After t1, "ok" has neither the memory nor the port left; it counts once, for resources.
    expect(unplaced).toEqual([
      {
        taskId: 't2',
        reason:
          'no suitable node (2 nodes not available for new tasks; scheduling constraints not satisfied on 1 node; insufficient resources on 2 nodes; host-mode port already in use on 1 node)',
      },
    ]);
  });

  it('honours max replicas per node across tasks placed in the same pass', () => {
    const { assigned, unplaced } = placeTasks(pending(5, demand({ maxReplicas: 2 })), [schedNode('a'), schedNode('b')]);
    expect(countBy(assigned)).toEqual({ a: 2, b: 2 });
    expect(unplaced[0]!.reason).toBe('no suitable node (max replicas per node limit exceeded on 2 nodes)');
  });

  it('never puts two tasks holding one host port on a node, across services', () => {
    const web = demand({ serviceId: 'web', hostPorts: ['tcp/80'] });
    const proxy = demand({ serviceId: 'proxy', hostPorts: ['tcp/80', 'tcp/443'] });
    const { assigned, unplaced } = placeTasks([...pending(1, web, 'w'), ...pending(2, proxy, 'p')], [schedNode('a'), schedNode('b')]);
    expect(assigned.map((a) => a.nodeId).sort()).toEqual(['a', 'b']);
    expect(unplaced).toEqual([{ taskId: 'p2', reason: 'no suitable node (host-mode port already in use on 2 nodes)' }]);
  });

  it('checks a task made for one node (global service) against that node only', () => {
    const d = demand({ nanoCpus: 3e9 });
    const nodes = [schedNode('a'), schedNode('b', { nanoCpus: 2e9 }), schedNode('c', { availability: 'pause' })];
    const { assigned, unplaced } = placeTasks(
      [
        { id: 'ga', demand: d, nodeId: 'a' },
        { id: 'gb', demand: d, nodeId: 'b' },
        { id: 'gc', demand: d, nodeId: 'c' },
        { id: 'gx', demand: d, nodeId: 'gone' },
      ],
      nodes,
    );
    expect(assigned).toEqual([{ taskId: 'ga', nodeId: 'a' }]);
    expect(unplaced).toEqual([
      { taskId: 'gb', reason: 'no suitable node (insufficient resources on 1 node)' },
      { taskId: 'gc', reason: 'no suitable node (1 node not available for new tasks)' },
      { taskId: 'gx', reason: 'no suitable node (1 node not available for new tasks)' },
    ]);
  });

  it('with no nodes at all, says so', () => {
    const { unplaced } = placeTasks(pending(1, demand()), []);
    expect(unplaced).toHaveLength(1);
    expect(unplaced[0]!.reason).toMatch(/^no suitable node/);
  });
});
