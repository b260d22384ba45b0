import { describe, expect, it } from 'vitest';
import { parseConstraint, satisfies } from '../../control-plane/scheduler/constraints.ts';
import { schedNode } from './fixtures.ts';

describe('parseConstraint', () => {
  it('reads == and != with any spacing', () => {
    expect(parseConstraint('node.hostname==web1')).toEqual({ key: 'node.hostname', equal: true, value: 'web1' });
    expect(parseConstraint('  node.labels.zone !=  east ')).toEqual({ key: 'node.labels.zone', equal: false, value: 'east' });
    expect(parseConstraint('engine.labels.disk==ssd')).toEqual({ key: 'engine.labels.disk', equal: true, value: 'ssd' });
  });

  it('refuses what Docker refuses, saying what was expected', () => {
    expect(() => parseConstraint('node.hostname=web1')).toThrow("invalid constraint 'node.hostname=web1': expected <key>==<value> or <key>!=<value>");
    expect(() => parseConstraint('node.colour==red')).toThrow("unknown key 'node.colour'");
    expect(() => parseConstraint('')).toThrow(/invalid constraint/);
  });
});

describe('satisfies', () => {
  const n = schedNode('abc123', {
    hostname: 'Web1',
    role: 'worker',
    labels: { zone: 'East' },
    engineLabels: { disk: 'ssd' },
    os: 'linux',
    arch: 'aarch64',
  });
  const check = (text: string) => satisfies(parseConstraint(text), n);

  it('matches every key Docker supports', () => {
    expect(check('node.id==abc123')).toBe(true);
    expect(check('node.hostname==Web1')).toBe(true);
    expect(check('node.role==worker')).toBe(true);
    expect(check('node.role==manager')).toBe(false);
    expect(check('node.platform.os==linux')).toBe(true);
    expect(check('node.platform.arch==aarch64')).toBe(true);
    expect(check('node.labels.zone==East')).toBe(true);
    expect(check('engine.labels.disk==ssd')).toBe(true);
    expect(check('engine.labels.disk==hdd')).toBe(false);
  });

  it('compares case-insensitively, as swarmkit does', () => {
    expect(check('node.hostname==web1')).toBe(true);
    expect(check('node.labels.zone==east')).toBe(true);
    expect(check('node.labels.zone!=EAST')).toBe(false);
  });

  it('a missing label fails == and passes !=', () => {
    expect(check('node.labels.gpu==yes')).toBe(false);
    expect(check('node.labels.gpu!=yes')).toBe(true);
    expect(check('engine.labels.gpu!=yes')).toBe(true);
  });
});
