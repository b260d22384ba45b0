import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { docker } from '../harness/docker-cli.ts';
import { watchOutput } from '../harness/process-output.ts';

/**
 * `docker events` through the real CLI, from two control-plane instances on one database: a
 * change made through either reaches a stream opened on the other.
 */
let a: ControlPlaneProcess;
let b: ControlPlaneProcess;
beforeAll(async () => {
  a = await startControlPlane({ env: { INSTANCE_ID: 'events-a' } });
  b = await startControlPlane({ dataDir: a.dataDir, env: { INSTANCE_ID: 'events-b' } });
  expect((await docker(['swarm', 'init'], a.dockerEnv)).code).toBe(0);
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
  if (a) rmSync(a.dataDir, { recursive: true, force: true });
});

describe('docker events', () => {
  it('--filter type=service on one instance shows create, update and rm made through the other', async () => {
    const events = watchOutput(
      spawn('docker', ['events', '--filter', 'type=service'], { env: { ...process.env, ...a.dockerEnv }, stdio: ['ignore', 'pipe', 'pipe'] }),
      'docker events',
    );
    try {
      // The CLI prints nothing until an event comes; give it a moment to open the stream.
      await new Promise((r) => setTimeout(r, 500));
      const viaB = (...args: string[]) => docker(args, b.dockerEnv);
      expect((await viaB('service', 'create', '--detach', '--name', 'evt', 'local/busybox:1', 'sleep', '100')).code).toBe(0);
      expect((await viaB('service', 'update', '--detach', '--replicas', '2', 'evt')).code).toBe(0);
      expect((await viaB('service', 'rm', 'evt')).code).toBe(0);
      await events.waitForOutput(/service remove \S+ \(name=evt\)/, 10_000);
      const lines = events.output().trim().split('\n');
      expect(lines.map((l) => l.replace(/^\S+ /, '').replace(/ [0-9a-z]{25} /, ' <id> '))).toEqual([
        'service create <id> (name=evt)',
        'service update <id> (name=evt, replicas.new=2, replicas.old=1)',
        'service remove <id> (name=evt)',
      ]);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z service create/);
    } finally {
      await events.stop();
    }
  });

  it('--since and --until replay the past and end', async () => {
    // The CLI sends whole seconds: `--until 0s` is the start of this second, as with dockerd.
    await new Promise((r) => setTimeout(r, 1_100));
    const r = await docker(['events', '--since', '5m', '--until', '0s', '--filter', 'event=create'], a.dockerEnv, { timeoutMs: 15_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/service create [0-9a-z]{25} \(name=evt\)/);
    expect(r.stdout).not.toMatch(/service remove/);
  });
});
