import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { ControlPlaneProcess } from '../harness/control-plane-process.ts';
import { freePort } from '../harness/net.ts';
import { type CliSession, startCliSession, table } from './cli-session.ts';

const exportLines = (cp: ControlPlaneProcess) => cp.output().split('\n').filter((l) => l.startsWith('export '));

const dataDir = mkdtempSync(join(tmpdir(), 'swarmlet-restart-'));
const running: CliSession[] = [];
afterAll(async () => {
  for (const s of running) await s.cp.stop('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

it('a restart on the same DATA_DIR keeps the swarm, the service, the key and the printed export lines', async () => {
  // One port for both runs: with PORT=0 the second start would print another DOCKER_HOST.
  const port = String(await freePort());
  const first = await startCliSession({ dataDir, env: { PORT: port } });
  running.push(first);
  expect(first.cp.output()).toContain('first start: created the default tenant, cluster and API key');
  await first.ok('swarm', 'init');
  const id = (await first.ok('service', 'create', '--detach', '--replicas', '2', '--name', 'web', '-p', '8080:80', 'local/busybox:1', 'httpd', '-f', '-p', '80')).trim();
  const before = JSON.parse(await first.ok('service', 'inspect', 'web'))[0];
  const tokenBefore = (await first.ok('swarm', 'join-token', '-q', 'worker')).trim();
  const configBefore = readFileSync(join(first.cp.dockerEnv.DOCKER_CONFIG, 'config.json'), 'utf8');
  const linesBefore = exportLines(first.cp);
  expect(linesBefore).toEqual([
    `export DOCKER_CONFIG=${join(dataDir, 'docker')}`,
    `export DOCKER_HOST=tcp://127.0.0.1:${port}`,
    'export DOCKER_TLS_VERIFY=1',
    `export DOCKER_CERT_PATH=${join(dataDir, 'docker')}`,
  ]);

  await first.cp.stop('SIGTERM');
  expect(first.cp.proc.exitCode).toBe(0);
  running.pop();

  const second = await startCliSession({ dataDir, env: { PORT: port } });
  running.push(second);
  expect(second.cp.output()).not.toContain('first start');
  expect(exportLines(second.cp)).toEqual(linesBefore);
  expect(second.cp.dockerEnv).toEqual(first.cp.dockerEnv);
  // The same config.json, so the same key, works.
  expect(readFileSync(join(second.cp.dockerEnv.DOCKER_CONFIG, 'config.json'), 'utf8')).toBe(configBefore);

  expect(await second.ok('info')).toMatch(/^ Swarm: active$/m);
  const after = JSON.parse(await second.ok('service', 'inspect', 'web'))[0];
  expect(after.ID).toBe(id);
  expect(after.Spec).toEqual(before.Spec);
  expect(after.Version).toEqual(before.Version);
  expect(table(await second.ok('service', 'ls'))[1]).toEqual([id.slice(0, 12), 'web', 'replicated', '0/2', 'local/busybox:1', '*:8080->80/tcp']);
  expect((await second.ok('swarm', 'join-token', '-q', 'worker')).trim()).toBe(tokenBefore);
  // And it still takes writes.
  expect(await second.ok('service', 'scale', 'web=3', '--detach')).toBe('web scaled to 3\n');
});
