import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTs, type WatchedProcess } from './process-output.ts';

export interface ControlPlaneProcess extends WatchedProcess {
  url: string;
  port: number;
  dataDir: string;
  /** DOCKER_CONFIG and DOCKER_HOST exactly as the control plane printed them. */
  dockerEnv: { DOCKER_CONFIG: string; DOCKER_HOST: string };
}

/**
 * Starts `control-plane/server.ts` as its own process on a free port, as `npm start` would, and
 * reads the two export lines it prints.
 */
export async function startControlPlane(opts: { dataDir?: string; env?: Record<string, string> } = {}): Promise<ControlPlaneProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'swarmlet-cp-'));
  const proc = spawnTs('control-plane/server.ts', [], { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...opts.env }, 'control plane', 30_000);
  const hostLine = await proc.waitForOutput(/export DOCKER_HOST=tcp:\/\/\S+/);
  const configLine = await proc.waitForOutput(/export DOCKER_CONFIG=\S+/);
  const hostPort = hostLine.replace('export DOCKER_HOST=tcp://', '');
  return {
    ...proc,
    url: `http://${hostPort}`,
    port: Number(hostPort.split(':')[1]),
    dataDir,
    dockerEnv: { DOCKER_CONFIG: configLine.replace('export DOCKER_CONFIG=', ''), DOCKER_HOST: `tcp://${hostPort}` },
  };
}
