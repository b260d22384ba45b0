import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentJoin, type CliSession, startCliSession, table } from './cli-session.ts';

/** `docker swarm init`, `info`, `node ls` and `swarm join-token` through the real CLI. */
let s: CliSession;
let nodeId: string;
beforeAll(async () => {
  s = await startCliSession();
});
afterAll(() => s.cp.stop());

const JOIN_LINE = /^ {4}docker swarm join --token (\S+) (\S+)$/m;

describe('a fresh control plane', () => {
  it('docker info shows Swarm: inactive before init', async () => {
    const out = await s.ok('info');
    expect(out).toMatch(/^ Swarm: inactive$/m);
  });

  it('docker node ls says this is not a swarm manager yet', async () => {
    const r = await s.cli('node', 'ls');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
    );
  });
});

describe('docker swarm init', () => {
  it('prints that the current node is now a manager, and a join command', async () => {
    const out = await s.ok('swarm', 'init');
    const m = /^Swarm initialized: current node \(([0-9a-z]{25})\) is now a manager\.$/m.exec(out);
    expect(m, out).not.toBeNull();
    nodeId = m![1]!;
    const join = JOIN_LINE.exec(out);
    expect(join, out).not.toBeNull();
    expect(join![2]).toBe(new URL(s.cp.url).host);
    expect(out).toContain("To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.");
  });

  it('a second init says the node is already part of a swarm', async () => {
    const r = await s.cli('swarm', 'init');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.');
  });
});

describe('after init', () => {
  it('docker info: Swarm active, Is Manager true, ClusterID, and the manager address', async () => {
    const out = await s.ok('info');
    expect(out).toMatch(/^ Swarm: active$/m);
    expect(out).toMatch(new RegExp(`^  NodeID: ${nodeId}$`, 'm'));
    expect(out).toMatch(/^  Is Manager: true$/m);
    expect(out).toMatch(/^  ClusterID: [0-9a-z]{25}$/m);
    expect(out).toMatch(/^  Managers: 1$/m);
    expect(out).toMatch(/^  Nodes: 1$/m);
    expect(out).toContain(`  Manager Addresses:\n   ${new URL(s.cp.url).host}\n`);
  });

  it('docker node ls: the control-plane row, marked * and Leader', async () => {
    const rows = table(await s.ok('node', 'ls'));
    expect(rows[0]).toEqual(['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION']);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toEqual([`${nodeId} *`, 'control-plane', 'Ready', 'Drain', 'Leader', expect.stringMatching(/\S/)]);
  });

  it('docker node inspect self resolves to the manager', async () => {
    const [node] = JSON.parse(await s.ok('node', 'inspect', 'self'));
    expect(node.ID).toBe(nodeId);
    expect(node.ManagerStatus).toMatchObject({ Leader: true, Addr: new URL(s.cp.url).host });
  });

  it('docker swarm join-token worker prints a join command whose token is a JWT of this swarm', async () => {
    const out = await s.ok('swarm', 'join-token', 'worker');
    expect(out.startsWith('To add a worker to this swarm, run the following command:\n\n')).toBe(true);
    const [, token, addr] = JOIN_LINE.exec(out)!;
    expect(addr).toBe(new URL(s.cp.url).host);
    expect(token!.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(token!)).toMatchObject({ alg: 'EdDSA', typ: 'swarmlet-join+jwt' });
    expect(decodeJwt(token!)).toMatchObject({ role: 'worker', aud: 'join', iss: 'swarmlet', url: s.cp.url });
    // -q prints the token alone; the manager token differs.
    expect((await s.ok('swarm', 'join-token', '-q', 'worker')).trim()).toBe(token);
    const manager = (await s.ok('swarm', 'join-token', '-q', 'manager')).trim();
    expect(manager).not.toBe(token);
    expect(decodeJwt(manager).role).toBe('manager');
  });

  it('docker swarm join-token --rotate worker: a new token; the old jti is revoked and cannot join', async () => {
    const old = (await s.ok('swarm', 'join-token', '-q', 'worker')).trim();
    const out = await s.ok('swarm', 'join-token', '--rotate', 'worker');
    expect(out.startsWith('Successfully rotated worker join token.\n')).toBe(true);
    const [, fresh] = JOIN_LINE.exec(out)!;
    expect(fresh).not.toBe(old);
    expect(decodeJwt(fresh!).jti).not.toBe(decodeJwt(old).jti);
    expect((await s.ok('swarm', 'join-token', '-q', 'worker')).trim()).toBe(fresh);

    const refused = await agentJoin(s.cp.url, old, 'with-old-token');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toBe('application/json');
    expect((await refused.json()).message).toMatch(/rotated or revoked/);

    const joined = await agentJoin(s.cp.url, fresh!, 'with-new-token');
    expect(joined.status).toBe(200);
    const rows = table(await s.ok('node', 'ls'));
    expect(rows.map((r) => r[1])).toEqual(['HOSTNAME', 'control-plane', 'with-new-token']);
  });
});
