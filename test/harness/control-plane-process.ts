import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTs, spawnWatched, type WatchedProcess } from './process-output.ts';
import { trustInTests } from './trust.ts';

export interface ControlPlaneProcess extends WatchedProcess {
  url: string;
  port: number;
  dataDir: string;
  /** The docker CLI's environment exactly as the control plane printed it (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH with TLS). */
  dockerEnv: Record<string, string> & { DOCKER_CONFIG: string; DOCKER_HOST: string };
  /** The cluster CA (PEM) it serves under; undefined with TLS=off. */
  caPem: string | undefined;
}

/**
 * Starts `control-plane/server.ts` as its own process on a free port, as `npm start` would, and
 * reads the export lines it prints. With TLS (the default) this test process's fetch trusts its CA.
 * `command` runs another command line instead (an installed `swarmlet serve`).
 */
export async function startControlPlane(opts: { dataDir?: string; env?: Record<string, string>; command?: string[] } = {}): Promise<ControlPlaneProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'swarmlet-cp-'));
  const env = { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...opts.env };
  const proc = opts.command ? spawnWatched(opts.command, env, 'control plane', 30_000) : spawnTs('control-plane/server.ts', [], env, 'control plane', 30_000);
  await proc.waitForOutput(/export DOCKER_HOST=tcp:\/\/\S+/);
  const plain = opts.env?.TLS === 'off';
  // With TLS the last line is DOCKER_CERT_PATH (the cluster CA) or DOCKER_TLS_VERIFY (a certificate of the user's).
  const last = plain ? /export DOCKER_HOST=\S+/ : opts.env?.TLS_CERT_FILE ? /export DOCKER_TLS_VERIFY=1/ : /export DOCKER_CERT_PATH=\S+/;
  await proc.waitForOutput(last);
  const dockerEnv = Object.fromEntries([...proc.output().matchAll(/^export (DOCKER_\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!])) as ControlPlaneProcess['dockerEnv'];
  const hostPort = dockerEnv.DOCKER_HOST.replace('tcp://', '');
  const caPem = dockerEnv.DOCKER_CERT_PATH ? readFileSync(join(dockerEnv.DOCKER_CERT_PATH, 'ca.pem'), 'utf8') : undefined;
  if (caPem) trustInTests(caPem);
  return {
    ...proc,
    url: `${plain ? 'http' : 'https'}://${hostPort}`,
    port: Number(hostPort.split(':').at(-1)),
    dataDir,
    dockerEnv,
    caPem,
  };
}
