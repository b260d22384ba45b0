import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../harness/docker-cli.ts';
import { type CliSession, startCliSession } from './cli-session.ts';

/** What the real CLI prints when our server says no. */
let s: CliSession;
let home: string;
beforeAll(async () => {
  s = await startCliSession();
  await s.ok('swarm', 'init');
  await s.ok('service', 'create', '--detach', '--name', 'web', 'local/busybox:1', 'httpd', '-f');
  home = mkdtempSync(join(tmpdir(), 'swarmlet-cli-home-'));
});
afterAll(async () => {
  await s.cp.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('not found', () => {
  it('docker service inspect nosuch → "no such service" (a 404, which the CLI turns into this)', async () => {
    const r = await s.cli('service', 'inspect', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe('[]');
    expect(r.stderr.trim()).toBe('Error: no such service: nosuch');
  });

  it('docker service rm nosuch → "service nosuch not found"', async () => {
    const r = await s.cli('service', 'rm', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('Error response from daemon: service nosuch not found');
  });

  it('docker service ps nosuch → "no such service: nosuch"', async () => {
    const r = await s.cli('service', 'ps', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('no such service: nosuch');
  });

  it('docker node inspect nosuch → "node nosuch not found"', async () => {
    const r = await s.cli('node', 'inspect', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('Error response from daemon: node nosuch not found');
  });

  it('docker service scale nosuch=2 → names the service and says not found', async () => {
    const r = await s.cli('service', 'scale', 'nosuch=2', '--detach');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nosuch: Error response from daemon: service nosuch not found');
  });
});

describe('refused writes', () => {
  it('creating a duplicate name → an error mentioning "already exists"', async () => {
    const r = await s.cli('service', 'create', '--detach', '--name', 'web', 'local/busybox:1');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('Error response from daemon: service web already exists');
    expect(JSON.parse(await s.ok('service', 'ls', '--format', 'json')).Name).toBe('web');
  });

  it('an invalid name → the DNS-name rule', async () => {
    const r = await s.cli('service', 'create', '--detach', '--name', 'bad.name', 'local/busybox:1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error response from daemon: invalid service name "bad.name": name must be valid as a DNS name component');
  });

  it('a port already published by another service', async () => {
    await s.ok('service', 'create', '--detach', '--name', 'p1', '-p', '9090:80', 'local/busybox:1');
    const r = await s.cli('service', 'create', '--detach', '--name', 'p2', '-p', '9090:80', 'local/busybox:1');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('Error response from daemon: port 9090/tcp is already published by service p1');
    await s.ok('service', 'rm', 'p1');
  });
});

describe('the API key', () => {
  const expectKeyError = (r: { code: number; stderr: string }, message: RegExp) => {
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/too new|API version/);
  };

  it('no DOCKER_CONFIG (so no key) → an error about the API key', async () => {
    const r = await docker(['service', 'ls'], { ...s.cp.dockerEnv, DOCKER_CONFIG: '', HOME: home });
    expectKeyError(r, /^Error response from daemon: missing API key: send "Authorization: Bearer <key>" \(for the docker CLI, set DOCKER_CONFIG to the directory the control plane printed\)$/m);
  });

  it('a DOCKER_CONFIG without the key → the same error, for reads and writes', async () => {
    const empty = mkdtempSync(join(home, 'empty-config-'));
    for (const args of [['service', 'ls'], ['node', 'ls'], ['service', 'create', '--detach', '--name', 'x', 'local/busybox:1']]) {
      expectKeyError(await docker(args, { ...s.cp.dockerEnv, DOCKER_CONFIG: empty }), /missing API key/);
    }
  });

  it('a wrong key → "invalid API key"', async () => {
    const wrong = mkdtempSync(join(home, 'wrong-config-'));
    writeFileSync(join(wrong, 'config.json'), JSON.stringify({ HttpHeaders: { Authorization: 'Bearer swl_not-a-key' } }));
    expectKeyError(await docker(['service', 'ls'], { ...s.cp.dockerEnv, DOCKER_CONFIG: wrong }), /^Error response from daemon: invalid API key/m);
  });

  it('nothing was created by the refused commands', async () => {
    const names = (await s.ok('service', 'ls', '--format', '{{.Name}}')).trim().split('\n');
    expect(names).toEqual(['web']);
  });
});
