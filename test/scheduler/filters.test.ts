import { describe, expect, it } from 'vitest';
import { parseConstraint } from '../../control-plane/scheduler/constraints.ts';
import {
  constraintFilter,
  explainRejections,
  type Filter,
  hostPortFilter,
  maxReplicasFilter,
  PIPELINE,
  readyFilter,
  resourceFilter,
} from '../../control-plane/scheduler/filters.ts';
import { demand, schedNode } from './fixtures.ts';

describe('readyFilter', () => {
  it('takes only ready, active nodes', () => {
    expect(readyFilter.check(demand(), schedNode('n'))).toBe(true);
    for (const extra of [{ state: 'down' }, { state: 'unknown' }, { availability: 'pause' }, { availability: 'drain' }]) {
      expect(readyFilter.check(demand(), schedNode('n', extra))).toBe(false);
    }
  });
  it('explains', () => {
    expect(readyFilter.explain(1)).toBe('1 node not available for new tasks');
    expect(readyFilter.explain(3)).toBe('3 nodes not available for new tasks');
  });
});

describe('constraintFilter', () => {
  it('needs every constraint to hold', () => {
    const n = schedNode('n', { labels: { zone: 'east', disk: 'ssd' } });
    const d = (...cs: string[]) => demand({ constraints: cs.map(parseConstraint) });
    expect(constraintFilter.check(d(), n)).toBe(true);
    expect(constraintFilter.check(d('node.labels.zone==east', 'node.labels.disk==ssd'), n)).toBe(true);
    expect(constraintFilter.check(d('node.labels.zone==east', 'node.labels.disk!=ssd'), n)).toBe(false);
  });
  it('explains', () => {
    expect(constraintFilter.explain(2)).toBe('scheduling constraints not satisfied on 2 nodes');
  });
});

describe('resourceFilter', () => {
  const n = (reservedCpus: number, reservedMemory: number) => schedNode('n', { nanoCpus: 2e9, memoryBytes: 4e9, reservedCpus, reservedMemory });
  it('fits exactly to capacity, and not one unit over', () => {
    expect(resourceFilter.check(demand({ nanoCpus: 2e9 }), n(0, 0))).toBe(true);
    expect(resourceFilter.check(demand({ nanoCpus: 1e9 }), n(1e9 + 1, 0))).toBe(false);
    expect(resourceFilter.check(demand({ memoryBytes: 4e9 }), n(0, 0))).toBe(true);
    expect(resourceFilter.check(demand({ memoryBytes: 1 }), n(0, 4e9))).toBe(false);
  });
  it('checks CPU and memory independently', () => {
    expect(resourceFilter.check(demand({ nanoCpus: 1e9, memoryBytes: 5e9 }), n(0, 0))).toBe(false);
    expect(resourceFilter.check(demand({ nanoCpus: 3e9, memoryBytes: 1 }), n(0, 0))).toBe(false);
  });
  it('a task without reservations fits anywhere, even on a full node', () => {
    expect(resourceFilter.check(demand(), n(2e9, 4e9))).toBe(true);
  });
  it('explains', () => {
    expect(resourceFilter.explain(1)).toBe('insufficient resources on 1 node');
  });
});

describe('maxReplicasFilter', () => {
  const n = (count: number) => schedNode('n', { tasksPerService: new Map([['svc', count], ['other', 9]]) });
  it('counts only the service\'s own tasks on the node; 0 means no limit', () => {
    expect(maxReplicasFilter.check(demand({ maxReplicas: 2 }), n(1))).toBe(true);
    expect(maxReplicasFilter.check(demand({ maxReplicas: 2 }), n(2))).toBe(false);
    expect(maxReplicasFilter.check(demand({ maxReplicas: 1 }), schedNode('n'))).toBe(true);
    expect(maxReplicasFilter.check(demand({ maxReplicas: 0 }), n(100))).toBe(true);
  });
  it('explains', () => {
    expect(maxReplicasFilter.explain(2)).toBe('max replicas per node limit exceeded on 2 nodes');
  });
});

describe('hostPortFilter', () => {
  const n = schedNode('n', { hostPorts: new Set(['tcp/8080']) });
  it('refuses a node where any of the ports is taken, per protocol', () => {
    expect(hostPortFilter.check(demand({ hostPorts: ['tcp/8080'] }), n)).toBe(false);
    expect(hostPortFilter.check(demand({ hostPorts: ['tcp/9090', 'tcp/8080'] }), n)).toBe(false);
    expect(hostPortFilter.check(demand({ hostPorts: ['udp/8080'] }), n)).toBe(true);
    expect(hostPortFilter.check(demand(), n)).toBe(true);
  });
  it('explains', () => {
    expect(hostPortFilter.explain(1)).toBe('host-mode port already in use on 1 node');
  });
});

describe('the pipeline and its explanation', () => {
  it('runs cheap static filters (node description) apart from the load-dependent ones', () => {
    expect(PIPELINE.map((f) => [f.name, f.static])).toEqual([
      ['ready', true],
      ['constraints', true],
      ['resources', false],
      ['max-replicas', false],
      ['host-ports', false],
    ]);
  });

  it('lists each failing filter once, in pipeline order, with its count', () => {
    const counts = new Map<Filter, number>([
      [hostPortFilter, 1],
      [resourceFilter, 2],
      [readyFilter, 1],
    ]);
    expect(explainRejections(counts, 4)).toBe(
      'no suitable node (1 node not available for new tasks; insufficient resources on 2 nodes; host-mode port already in use on 1 node)',
    );
  });

  it('says when no node has joined at all', () => {
    expect(explainRejections(new Map(), 0)).toMatch(/^no suitable node \(/);
    expect(explainRejections(new Map(), 0)).not.toBe(explainRejections(new Map([[readyFilter, 1]]), 1));
  });
});
