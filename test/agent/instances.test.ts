/** The agent's choice of control-plane instance: which URL comes next, what is kept, and a real move. */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlaneClient, ControlPlaneUnreachable } from '../../agent/client.ts';
import { ControlPlaneInstances, nextControlPlane } from '../../agent/instances.ts';
import { StateDir } from '../../agent/state.ts';
import { freePort } from '../harness/net.ts';

const A = 'http://10.0.0.1:2399';
const B = 'https://10.0.0.2:2399';
const C = 'http://cp-c.example:8080';
const JOIN = 'http://lb.example:2399';

describe('nextControlPlane', () => {
  it('goes to the next live instance after the failed one, round the list, the join URL last', () => {
    expect(nextControlPlane(A, [A, B, C], JOIN)).toBe(B);
    expect(nextControlPlane(B, [A, B, C], JOIN)).toBe(C);
    expect(nextControlPlane(C, [A, B, C], JOIN)).toBe(JOIN);
    expect(nextControlPlane(JOIN, [A, B, C], JOIN)).toBe(A);
  });

  it('a failed URL no longer listed (the join URL of a killed instance) goes to the first live one', () => {
    expect(nextControlPlane('http://10.0.0.9:2399', [B, C], A)).toBe(B);
    expect(nextControlPlane(A, [B, C], A)).toBe(B);
  });

  it('compares whole URLs: another scheme or port is another instance', () => {
    expect(nextControlPlane('http://10.0.0.2:2399', [B], A)).toBe(B);
    expect(nextControlPlane('https://10.0.0.1:2399', [A], JOIN)).toBe(A);
  });

  it('with nothing else known, stays on the one URL (a load balancer, a Worker)', () => {
    expect(nextControlPlane(JOIN, [], JOIN)).toBe(JOIN);
    expect(nextControlPlane(JOIN, [JOIN], JOIN)).toBe(JOIN);
  });
});

describe('ControlPlaneInstances', () => {
  it('moves once however many requests failed together, and keeps its choice in the state dir', () => {
    const state = new StateDir(join(mkdtempSync(join(tmpdir(), 'swarmlet-instances-')), 'state'));
    const instances = new ControlPlaneInstances(A, { clusterId: 'c1', save: (s) => state.saveControlPlanes(s) });
    instances.learn([A, B, C]);
    instances.unreachable(A);
    instances.unreachable(A);
    instances.unreachable(A);
    expect(instances.current).toBe(B);
    expect(statSync(join(state.dir, 'control-planes.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(state.dir, 'control-planes.json'), 'utf8'))).toEqual({ clusterId: 'c1', joinUrl: A, current: B, live: [A, B, C] });

    // A restart starts where it left off; a join elsewhere (other cluster or URL) starts afresh.
    expect(new ControlPlaneInstances(A, { clusterId: 'c1', saved: state.readControlPlanes() }).current).toBe(B);
    expect(new ControlPlaneInstances(A, { clusterId: 'c2', saved: state.readControlPlanes() }).current).toBe(A);
    expect(new ControlPlaneInstances(C, { clusterId: 'c1', saved: state.readControlPlanes() }).current).toBe(C);
  });

  it('stays on a working instance when a new list leaves it out, and moves on from it when it fails', () => {
    const instances = new ControlPlaneInstances(JOIN);
    instances.learn([A, B]);
    expect(instances.current).toBe(JOIN);
    instances.unreachable(JOIN);
    expect(instances.current).toBe(A);
    instances.learn([B, C]);
    expect(instances.current).toBe(A);
    instances.unreachable(A);
    expect(instances.current).toBe(B);
  });
});

describe('ControlPlaneClient across instances', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('after a refused connection, the next request goes to the next live instance', async () => {
    const seen: string[] = [];
    server = createServer((req, res) => {
      seen.push(req.url!);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ credential: 'c', credentialExpiresAt: 1 }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const live = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dead = `http://127.0.0.1:${await freePort()}`;
    const instances = new ControlPlaneInstances(dead);
    instances.learn([dead, live]);
    const client = new ControlPlaneClient(instances);
    try {
      await expect(client.renewCredential()).rejects.toBeInstanceOf(ControlPlaneUnreachable);
      expect(client.baseUrl).toBe(live);
      const started = performance.now();
      await expect(client.renewCredential()).resolves.toEqual({ credential: 'c', credentialExpiresAt: 1 });
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(seen).toEqual(['/agent/v1/credential']);
    } finally {
      await client.close();
    }
  });
});
