import { resolve } from 'node:path';
import { packageBin } from '../protocol/package-info.ts';
import type { ServiceUnit } from '../protocol/systemd-unit.ts';

export const CONTROL_PLANE_UNIT = 'swarmlet';
export const DEFAULT_SERVICE_DATA_DIR = '/var/lib/swarmlet';
export const DEFAULT_SERVICE_ENV_FILE = '/etc/swarmlet/swarmlet.env';

/**
 * The control plane's unit: `swarmlet serve` with its data dir and log format in the unit, and
 * every other setting (HOST, PUBLIC_URL, KEK, LIBSQL_URL…) in an environment file the unit reads
 * if present: a unit file is world-readable, so no secret is ever written into it.
 */
export function controlPlaneUnit(opts: { dataDir: string; envFile: string; logFormat: string }): ServiceUnit {
  return {
    name: CONTROL_PLANE_UNIT,
    description: 'swarmlet control plane: the Docker Swarm API and its agents\' API',
    execStart: [process.execPath, packageBin('swarmlet'), 'serve'],
    after: ['network-online.target'],
    environment: { DATA_DIR: resolve(opts.dataDir), LOG_FORMAT: opts.logFormat },
    environmentFile: resolve(opts.envFile),
  };
}
