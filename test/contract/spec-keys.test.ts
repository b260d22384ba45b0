import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withDockerKeys } from '../../control-plane/swarm/spec-keys.ts';
import { SPEC_KEYS } from '../../control-plane/swarm/spec-keys-table.ts';
import { keyTable, loadEngineApi } from './engine-api.ts';

const TABLE_FILE = resolve(import.meta.dirname, '../../control-plane/swarm/spec-keys-table.ts');
const HEADER = `/** Generated from the Engine API definitions by test/contract/spec-keys.test.ts (SPEC_KEYS_WRITE=1); do not edit. */
import type { KeyTable } from './spec-keys.ts';

export const SPEC_KEYS: KeyTable = `;
const ROOTS = ['ServiceSpec', 'SwarmSpec', 'NodeSpec'];

describe('the spec key table', () => {
  it('is what the Engine API definitions (v1.47, a superset of what older clients send) say', () => {
    const derived = keyTable(loadEngineApi('1.47'), ROOTS);
    // SPEC_KEYS_WRITE=1 regenerates it after the definitions change.
    if (process.env.SPEC_KEYS_WRITE) writeFileSync(TABLE_FILE, `${HEADER}${JSON.stringify(derived)};\n`);
    expect(SPEC_KEYS).toEqual(derived);
    expect(readFileSync(TABLE_FILE, 'utf8').startsWith(HEADER)).toBe(true);
    expect(Object.keys(derived.defs)).toEqual(expect.arrayContaining(['ServiceSpec', 'TaskSpec', 'EndpointSpec', 'SwarmSpec', 'NodeSpec']));
  });

  it('spells keys as Docker does at every depth, and leaves free-form maps and unknown keys alone', () => {
    const posted = {
      name: 'web',
      labels: { 'com.example.Team': 'a', lower: 'b' },
      mode: { replicated: { replicas: 2 } },
      taskTemplate: { containerSpec: { image: 'busybox', healthcheck: { test: ['CMD', 'true'] }, env: ['A=1'], labels: { keepMe: 'x' }, mounts: [{ target: '/data', type: 'volume' }] }, forceUpdate: 1 },
      updateConfig: { order: 'start-first', failureaction: 'rollback' },
      endpointSpec: { ports: [{ targetPort: 80, publishedPort: 8080 }] },
      XCustomField: { anyThing: 1 },
    };
    expect(withDockerKeys('ServiceSpec', posted)).toEqual({
      Name: 'web',
      Labels: { 'com.example.Team': 'a', lower: 'b' },
      Mode: { Replicated: { Replicas: 2 } },
      TaskTemplate: { ContainerSpec: { Image: 'busybox', Healthcheck: { Test: ['CMD', 'true'] }, Env: ['A=1'], Labels: { keepMe: 'x' }, Mounts: [{ Target: '/data', Type: 'volume' }] }, ForceUpdate: 1 },
      UpdateConfig: { Order: 'start-first', FailureAction: 'rollback' },
      EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] },
      XCustomField: { anyThing: 1 },
    });
  });

  it('prefers an exact key over a case-insensitive one, as Go does', () => {
    expect(withDockerKeys('ServiceSpec', { Name: 'exact', name: 'folded' })).toEqual({ Name: 'exact', name: 'folded' });
    expect(withDockerKeys('NodeSpec', { availability: 'drain', labels: { Zone: 'a' } })).toEqual({ Availability: 'drain', Labels: { Zone: 'a' } });
  });
});
