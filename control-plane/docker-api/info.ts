import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { type AppEnv, clusterAddr } from '../app-env.ts';
import { jsonOk } from './body.ts';
import { API_VERSION, swarmObject } from './system.ts';
import { ENGINE_VERSION } from './views.ts';

/** The cluster's totals as one query: what `docker info` can honestly say of many hosts. */
async function clusterTotals(c: { var: AppEnv['Variables'] }) {
  const { deps, cluster } = c.var;
  const [row] = await deps.database.db.all<{ nodes: number; cpus: number; memory: number; running: number; stopped: number }>(sql`
    select
      (select count(*) from nodes where cluster_id = ${cluster.id}) as nodes,
      (select coalesce(sum(json_extract(description, '$.nanoCpus')), 0) from nodes where cluster_id = ${cluster.id} and state != 'down') as cpus,
      (select coalesce(sum(json_extract(description, '$.memoryBytes')), 0) from nodes where cluster_id = ${cluster.id} and state != 'down') as memory,
      (select count(*) from tasks where cluster_id = ${cluster.id} and state = 'running') as running,
      (select count(*) from tasks where cluster_id = ${cluster.id} and state in ('complete', 'failed', 'shutdown') and desired_state != 'remove') as stopped`);
  return row ?? { nodes: 0, cpus: 0, memory: 0, running: 0, stopped: 0 };
}

/**
 * `GET /info` in dockerd's shape (SystemInfo). The "daemon" is the control plane fronting a cluster:
 * CPUs, memory and containers are the totals of the cluster's live nodes and tasks; what belongs to
 * one engine (storage driver, kernel, registry mirrors) is answered empty rather than invented.
 */
export const infoRoutes = new Hono<AppEnv>().get('/info', async (c) => {
  const { cluster, deps } = c.var;
  const active = cluster.initializedAt !== null;
  const addr = clusterAddr(deps, cluster);
  const [totals, lease] = await Promise.all([clusterTotals(c), deps.leaseHolder()]);
  return jsonOk({
    ID: cluster.id,
    Containers: totals.running + totals.stopped,
    ContainersRunning: totals.running,
    ContainersPaused: 0,
    ContainersStopped: totals.stopped,
    Images: 0,
    Driver: '',
    DriverStatus: [],
    Plugins: { Volume: [], Network: ['overlay'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: false,
    KernelMemory: false,
    KernelMemoryTCP: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: false,
    PidsLimit: true,
    IPv4Forwarding: true,
    BridgeNfIptables: true,
    BridgeNfIp6tables: true,
    Debug: deps.config.log.debug,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date(deps.now()).toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: '',
    CgroupVersion: '',
    NEventsListener: 0,
    KernelVersion: '',
    OperatingSystem: 'swarmlet control plane',
    OSVersion: API_VERSION,
    OSType: 'linux',
    Architecture: 'x86_64',
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: [], IndexConfigs: {}, Mirrors: [] },
    NCPU: Math.round(totals.cpus / 1e9),
    MemTotal: totals.memory,
    GenericResources: null,
    DockerRootDir: '',
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: 'control-plane',
    Labels: lease ? [`swarmlet.leader=${lease.holder}`, `swarmlet.leader-epoch=${lease.epoch}`] : [],
    ExperimentalBuild: false,
    ServerVersion: ENGINE_VERSION,
    Runtimes: { runc: { path: 'runc' } },
    DefaultRuntime: 'runc',
    Swarm: active
      ? {
          NodeID: cluster.managerNodeId,
          NodeAddr: addr.replace(/:\d+$/, ''),
          LocalNodeState: 'active',
          ControlAvailable: true,
          Error: '',
          RemoteManagers: [{ NodeID: cluster.managerNodeId, Addr: addr }],
          Nodes: totals.nodes + 1,
          Managers: 1,
          Cluster: swarmObject(cluster, deps.trust),
        }
      : { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: '',
    InitBinary: 'docker-init',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    SecurityOptions: [],
    Warnings: null,
  });
});
