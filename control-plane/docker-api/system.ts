import { count, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, clusterAddr } from '../app-env.ts';
import { nodes } from '../db/schema/index.ts';
import { jsonOk } from './body.ts';
import { ENGINE_VERSION, objectMeta } from './views.ts';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

const PING_HEADERS = {
  'Api-Version': API_VERSION,
  Ostype: 'linux',
  'Docker-Experimental': 'false',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
  'Content-Type': 'text/plain; charset=utf-8',
};

/** Docker's cluster block, shared by `/info` and `/swarm`. */
export function swarmObject(cluster: AppEnv['Variables']['cluster']) {
  return {
    ...objectMeta(cluster),
    Spec: cluster.spec,
    TLSInfo: {},
    RootRotationInProgress: false,
    DefaultAddrPool: ['10.0.0.0/8'],
    SubnetSize: 24,
    DataPathPort: 51820,
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
  .get('/info', async (c) => {
    const { cluster, deps } = c.var;
    const active = cluster.initializedAt !== null;
    const [row] = await deps.database.db.select({ n: count() }).from(nodes).where(eq(nodes.clusterId, cluster.id));
    const addr = clusterAddr(deps, cluster);
    const lease = await deps.leaseHolder();
    return jsonOk({
      ID: cluster.id,
      Name: 'control-plane',
      ServerVersion: ENGINE_VERSION,
      OperatingSystem: 'swarmlet control plane',
      OSType: 'linux',
      Architecture: 'x86_64',
      Containers: 0,
      Images: 0,
      Labels: lease ? [`swarmlet.leader=${lease.holder}`, `swarmlet.leader-epoch=${lease.epoch}`] : [],
      Swarm: active
        ? {
            NodeID: cluster.managerNodeId,
            NodeAddr: addr.replace(/:\d+$/, ''),
            LocalNodeState: 'active',
            ControlAvailable: true,
            Error: '',
            RemoteManagers: [{ NodeID: cluster.managerNodeId, Addr: addr }],
            Nodes: (row?.n ?? 0) + 1,
            Managers: 1,
            Cluster: swarmObject(cluster),
          }
        : { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    });
  })
  // Images are never pulled here; an empty digest tells the CLI to keep the reference as typed.
  .get('/distribution/*', () => jsonOk({ Descriptor: { mediaType: '', digest: '', size: 0 }, Platforms: [] }));
