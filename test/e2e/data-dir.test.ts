import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { docker } from '../harness/docker-cli.ts';
import { spawnTs } from '../harness/process-output.ts';

/** The data directory holds secrets: the signing keys in the database and the CLI's API key. */
describe('data directory', () => {
  let cp: ControlPlaneProcess | undefined;
  afterAll(async () => {
    await cp?.stop();
    if (cp) rmSync(cp.dataDir, { recursive: true, force: true });
  });

  it('keeps the database and the docker config private to the owner', async () => {
    cp = await startControlPlane();
    for (const file of ['control-plane.db', 'docker/config.json']) {
      expect(statSync(join(cp.dataDir, file)).mode & 0o077, file).toBe(0);
    }
  });

  it('issues a new API key when the docker config was lost, and the old key keeps working', async () => {
    const configFile = join(cp!.dockerEnv.DOCKER_CONFIG, 'config.json');
    const oldConfig = readFileSync(configFile, 'utf8');
    await cp!.stop();
    rmSync(configFile);
    cp = await startControlPlane({ dataDir: cp!.dataDir });
    const newConfig = readFileSync(join(cp.dockerEnv.DOCKER_CONFIG, 'config.json'), 'utf8');
    expect(newConfig).not.toBe(oldConfig);
    expect(cp.output()).not.toContain('first start');
    const ls = await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'], cp.dockerEnv);
    expect(ls.stdout.trim()).toBe('inactive');
    const oldKey = JSON.parse(oldConfig).HttpHeaders.Authorization;
    const res = await fetch(`${cp.url}/info`, { headers: { Authorization: oldKey } });
    expect(res.status).toBe(200);
  });
});

describe('a port already in use', () => {
  it('ends the control plane with one clear line, not a stack trace', async () => {
    const busy = await startControlPlane();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'swarmlet-busy-'));
      const second = spawnTs('control-plane/server.ts', [], { PORT: String(busy.port), HOST: '127.0.0.1', DATA_DIR: dir }, 'second control plane', 30_000);
      const { code } = await second.exited;
      const out = second.output();
      expect(code).toBe(1);
      expect(out).toContain(`control plane cannot listen: 127.0.0.1:${busy.port} is already in use; set PORT (or HOST) to another`);
      expect(out).not.toMatch(/\n\s+at /);
      rmSync(dir, { recursive: true, force: true });
    } finally {
      await busy.stop();
      rmSync(busy.dataDir, { recursive: true, force: true });
    }
  });
});
