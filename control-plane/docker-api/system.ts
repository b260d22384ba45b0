import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';
import type { ClusterTrust } from '../tls/trust.ts';
import { jsonOk } from './body.ts';
import { ENGINE_VERSION, objectMeta } from './views.ts';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

/** What dockerd puts on every response; clients read the API version and OS from them. */
export const DOCKER_HEADERS = {
  'Api-Version': API_VERSION,
  'Docker-Experimental': 'false',
  Ostype: 'linux',
  Server: `Docker/${ENGINE_VERSION} (linux)`,
};

const PING_HEADERS = {
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
  'Content-Type': 'text/plain; charset=utf-8',
};

/** Docker's cluster block, shared by `/info` and `/swarm`. */
export function swarmObject(cluster: AppEnv['Variables']['cluster'], trust: ClusterTrust | undefined) {
  return {
    ...objectMeta(cluster),
    Spec: cluster.spec,
    TLSInfo: trust?.tlsInfo ?? {},
    RootRotationInProgress: false,
    ...cluster.dataPath,
  };
}

export const system = new Hono<AppEnv>()
  .on('HEAD', '/_ping', (c) => {
    const swarm = c.var.cluster.initializedAt === null ? 'inactive' : 'active/manager';
    return new Response(null, { status: 200, headers: { ...PING_HEADERS, Swarm: swarm } });
  })
  .get('/_ping', (c) => {
    const swarm = c.var.cluster.initializedAt === null ? 'inactive' : 'active/manager';
    return new Response('OK', { status: 200, headers: { ...PING_HEADERS, Swarm: swarm } });
  })
  .get('/version', () =>
    jsonOk({
      Platform: { Name: 'swarmlet control plane' },
      Components: [{ Name: 'Engine', Version: ENGINE_VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: 'amd64' } }],
      Version: ENGINE_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: 'swarmlet',
      GoVersion: 'n/a (TypeScript)',
      Os: 'linux',
      Arch: 'amd64',
      KernelVersion: '',
      BuildTime: '',
    }),
  )
  // Disk use is the engines' business, on the hosts; the control plane itself holds none of it.
  .get('/system/df', () => jsonOk({ LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] }))
  // Images are never pulled here; an empty digest tells the CLI to keep the reference as typed.
  .get('/distribution/*', () => jsonOk({ Descriptor: { mediaType: '', digest: '', size: 0 }, Platforms: [] }));
