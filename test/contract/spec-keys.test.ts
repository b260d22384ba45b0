import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withDockerKeys } from '../../control-plane/swarm/spec-keys.ts';
import { SPEC_KEYS } from '../../control-plane/swarm/spec-keys-table.ts';
import { keyTable, loadEngineApi, requestBody } from './engine-api.ts';

const TABLE_FILE = resolve(import.meta.dirname, '../../control-plane/swarm/spec-keys-table.ts');
const HEADER = `/** Generated from the Engine API definitions by test/contract/spec-keys.test.ts (SPEC_KEYS_WRITE=1); do not edit. */
import type { KeyTable } from './spec-keys.ts';

export const SPEC_KEYS: KeyTable = `;
/** swarm.InitRequest has two fields the definitions leave out; the CLI sends both. */
const GO_ONLY_INIT_FIELDS = { AutoLockManagers: { type: 'boolean' }, Availability: { type: 'string' } };

describe('the spec key table', () => {
  it('is what the Engine API definitions (v1.47, a superset of what older clients send) say', () => {
    const api = loadEngineApi('1.47');
    const init = requestBody(api, '/swarm/init', 'post');
    const derived = keyTable(api, {
      ServiceSpec: { $ref: '#/definitions/ServiceSpec' },
      SwarmSpec: { $ref: '#/definitions/SwarmSpec' },
      SwarmInitRequest: { ...init, properties: { ...init.properties, ...GO_ONLY_INIT_FIELDS } },
      NodeSpec: { $ref: '#/definitions/NodeSpec' },
      NetworkCreateRequest: requestBody(api, '/networks/create', 'post'),
    });
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

  it('takes the later of two spellings of one field, as Go does', () => {
    expect(withDockerKeys('ServiceSpec', { Name: 'first', name: 'later' })).toEqual({ Name: 'later' });
    expect(withDockerKeys('ServiceSpec', { name: 'first', Name: 'later' })).toEqual({ Name: 'later' });
    expect(withDockerKeys('NodeSpec', { availability: 'drain', labels: { Zone: 'a' } })).toEqual({ Availability: 'drain', Labels: { Zone: 'a' } });
  });
});
