/**
 * The agent protocol's wire types, shared by the control plane and swarm-agent.
 * Described for other implementers in openapi.json beside this file.
 */
import type { PortConfig, TaskSpec } from './task-spec.ts';
import type { DesiredState, TaskState } from './task-states.ts';

export const AGENT_PREFIX = '/agent/v1';

/** What an agent tells about its host when it joins. */
export interface NodeDescription {
  hostname: string;
  nanoCpus: number;
  memoryBytes: number;
  os: string;
  arch: string;
  engineVersion: string;
  engineLabels?: Record<string, string>;
  addr: string;
  wireguardPublicKey?: string;
}

/**
 * What an agent tells about its host. Its `labels` (`--label`) are engine labels like the engine's
 * own (`engine.labels.<key>` in constraints), never the node's Spec.Labels: `node.labels` are the
 * operator's (`docker node update --label-add`), so a host cannot place itself.
 */
export interface NodeInfo extends NodeDescription {
  labels?: Record<string, string>;
}

export interface JoinRequest {
  token: string;
  node: NodeInfo;
  /** A rejoin from saved state: the node's last credential proves which node it is. */
  credential?: string;
}

export interface JoinResponse {
  nodeId: string;
  clusterId: string;
  credential: string;
  credentialExpiresAt: number;
  /** See AssignmentsResponse.heartbeatPeriodMs. */
  heartbeatPeriodMs: number;
}

export interface CredentialResponse {
  credential: string;
  credentialExpiresAt: number;
}

export interface Assignment {
  taskId: string;
  serviceId: string;
  serviceName: string;
  slot: number;
  desiredState: DesiredState;
  state: TaskState;
  /** Docker TaskSpec (ContainerSpec, Resources, RestartPolicy, ...). */
  spec: TaskSpec;
  ports: PortConfig[];
  /** The task's address on each of its overlay networks (given when it was assigned). */
  networks: TaskAttachment[];
  /**
   * The secrets and configs the task's container is given, values included: only on a task still to
   * run, so a node holds a value only while one of its tasks needs it. Never written to disk.
   */
  files?: TaskFile[];
  /**
   * A task to stop that was a backend until just now: keep its container running at most this much
   * longer (ms), until every host that routes to it has let it go (GET /drains says when), so no
   * new connection reaches a stopped container. Absent: stop at once.
   */
  drainMs?: number;
}

/** A secret's or config's value, for a file at `target` (absolute, in the container) owned as given. */
export interface TaskFile {
  target: string;
  uid: string;
  gid: string;
  mode: number;
  /** The value, base64. */
  data: string;
}

export interface TaskAttachment {
  networkId: string;
  /** CIDR notation: the task's address with its network's prefix length, `10.0.1.5/24`. */
  address: string;
  /** Names the task answers to on that network besides its service's (`--network name=N,alias=x`). */
  aliases: string[];
  /**
   * The routing mesh's network (always the last attachment): the task is connected to it, never
   * created on it, so its default route and names stay those of its own networks.
   */
  ingress?: true;
}

/** An overlay network one of this node's tasks is on. */
export interface OverlayNetwork {
  id: string;
  name: string;
  subnet: string;
  gateway: string;
}

/** Another node of the mesh, as this node's WireGuard peer. */
export interface MeshPeer {
  nodeId: string;
  /** The peer's WireGuard public key (base64); its private key never leaves its host. */
  publicKey: string;
  /** `addr:port` its WireGuard interface listens on. */
  endpoint: string;
  /**
   * What the tunnel carries (/32s): its tasks' addresses on the networks this node shares with it
   * or reaches for the routing mesh, and its mesh address when this node runs ingress tasks.
   */
  allowedIps: string[];
}

/** This node's part of the encrypted mesh that carries overlay traffic between hosts. */
export interface MeshView {
  /** The UDP port every node's WireGuard interface listens on (`docker swarm init --data-path-port`). */
  listenPort: number;
  /**
   * The node's own address on the ingress network (/32), while some service publishes an ingress
   * port: put on the WireGuard interface, it is the source of the routing mesh's connections to
   * tasks on other nodes, and the address their replies come back to.
   */
  address?: string;
  /** The networks of this node's tasks (ingress among them when it runs a task publishing a port). */
  networks: OverlayNetwork[];
  peers: MeshPeer[];
}

/** A service publishing ingress ports, as every node's routing mesh serves it. */
export interface IngressService {
  serviceId: string;
  ports: PortConfig[];
  /**
   * Its running tasks, each with its address on the ingress network (no prefix length), which any
   * node reaches through the mesh; a task started before its service published a port has none
   * and is reached by its own node only.
   */
  backends: Array<{ taskId: string; nodeId: string; address?: string }>;
}

/**
 * The names a container on one overlay network resolves (Docker's service discovery: `<service>`,
 * `tasks.<service>`, network aliases, task hostnames and container names), for the node's DNS
 * server. Only tasks that are running (and healthy, when their service has a health check) and
 * still wanted are answers.
 */
export interface NetworkNames {
  networkId: string;
  /** Lower-case name → its IPv4 addresses (without prefix length), sorted. */
  records: Record<string, string[]>;
  /**
   * The vip-mode services' virtual IPs on the network, each with its backends: the addresses of
   * its running tasks there. A connection to a VIP is balanced over them by the node it leaves.
   */
  virtualIps: VirtualIpBackends[];
}

export interface VirtualIpBackends {
  /** The virtual IP, no prefix length. */
  address: string;
  backends: string[];
}

export interface AssignmentsResponse {
  index: number;
  nodeId: string;
  /**
   * The period within which the control plane must hear from this node: any request of its
   * credential counts (a long-poll, a status request, empty or not). The agent makes one every
   * half period: it long-polls for at most half a period, and sends an empty status request when
   * nothing else went out for half a period. It grows with the cluster's size (the
   * cluster's heartbeats are capped per second, HEARTBEATS_PER_SEC), so the agent must use the
   * period of the latest answer.
   */
  heartbeatPeriodMs: number;
  /**
   * The live control-plane instances' URLs (one when a load balancer or a Worker fronts them). The
   * agent keeps using the one that answers; when it cannot be reached it moves to the next of
   * these, and to the URL it joined with when none is left.
   */
  controlPlaneUrls: string[];
  tasks: Assignment[];
  /** Running tasks of every service that publishes ingress ports: the routing mesh's backends. */
  ingress: IngressService[];
  /** Log requests the control plane relays from `docker service logs`. */
  logRequests: LogRequest[];
  mesh: MeshView;
  /** The names on each of the node's overlay networks (those of `mesh.networks`). */
  names: NetworkNames[];
}

/**
 * The answer to a long-poll asked with `brief=1` that ended (its wait ran out, or a newer poll of
 * the node ended it) with nothing past the index it asked from: the agent keeps what it holds.
 * Polls come round every half heartbeat period (any request is a heartbeat), so an idle node's
 * answer is this, not its whole set of tasks, names and peers again. An agent that does not ask
 * for it is answered in full, as before.
 */
export interface AssignmentsUnchanged {
  index: number;
  nodeId: string;
  unchanged: true;
  heartbeatPeriodMs: number;
  controlPlaneUrls: string[];
}

export type AssignmentsAnswer = AssignmentsResponse | AssignmentsUnchanged;

export const isUnchanged = (answer: AssignmentsAnswer): answer is AssignmentsUnchanged => 'unchanged' in answer && answer.unchanged === true;

/**
 * `docker service logs` asking this node for the logs of some of its tasks. The agent answers with
 * `POST /agent/v1/logs/{id}` calls, in order, each a batch of frames in Docker's stdcopy framing:
 * `[stream (1 stdout, 2 stderr), 0, 0, 0, length (uint32 BE)]` then the payload
 * `<taskId> <RFC 3339 nano timestamp> <line>` (the line as Docker gives it, newline included).
 * The last call of a request without `follow` carries `?done=1`. 410 means the client went away:
 * stop. A request missing from the next assignments is closed too.
 */
export interface LogRequest {
  id: string;
  taskIds: string[];
  follow: boolean;
  /** Lines per task from the end of its log. */
  tail: number | 'all';
  /** Whether the client shows timestamps; the agent sends them regardless. */
  timestamps: boolean;
  /** Unix seconds (fractional): only lines from then on. */
  since?: number;
}

/** Docker's task ContainerStatus, as the agent observed it. */
export interface ContainerStatus {
  ContainerID?: string;
  PID?: number;
  ExitCode?: number;
}

export interface TaskReport {
  taskId: string;
  state: TaskState;
  message?: string;
  err?: string;
  containerStatus?: ContainerStatus;
  portStatus?: { Ports?: PortConfig[] };
  /** When the agent saw the change (ms since epoch). */
  timestamp: number;
}

export interface StatusRequest {
  reports: TaskReport[];
  /**
   * The index of the last assignments answer whose names, virtual IP rules and routing mesh this
   * host has put in place; a stopping backend drains until every host routing to it is past the
   * index that took it out (GET /drains).
   */
  appliedIndex?: number;
}

/** Of the draining tasks asked about, those no host routes new connections to any more: stop them. */
export interface DrainsResponse {
  drained: string[];
}

export interface StatusResponse {
  results: Array<{ taskId: string; ok: boolean; error?: string }>;
}
