/**
 * The agent protocol's wire types, shared by the control plane and swarm-agent.
 * Described for other implementers in openapi.json beside this file.
 */
import type { DesiredState, NodeDescription, TaskState } from '../db/schema/index.ts';

export const AGENT_PREFIX = '/agent/v1';

/** What an agent tells about its host; `labels` become the node's Spec.Labels on first join. */
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
  heartbeatPeriodMs: number;
}

export interface CredentialResponse {
  credential: string;
  credentialExpiresAt: number;
}

export interface PublishedPort {
  Protocol: 'tcp' | 'udp' | 'sctp';
  TargetPort: number;
  PublishedPort: number;
  PublishMode: 'ingress' | 'host';
}

export interface Assignment {
  taskId: string;
  serviceId: string;
  serviceName: string;
  slot: number;
  desiredState: DesiredState;
  state: TaskState;
  /** Docker TaskSpec (ContainerSpec, Resources, RestartPolicy, ...). */
  spec: Record<string, any>;
  ports: PublishedPort[];
}

export interface AssignmentsResponse {
  index: number;
  nodeId: string;
  heartbeatPeriodMs: number;
  tasks: Assignment[];
  /** Running tasks of every service that publishes ingress ports: the routing mesh's backends. */
  ingress: Array<{ serviceId: string; ports: PublishedPort[]; backends: Array<{ taskId: string; nodeId: string; addr: string }> }>;
  /** Log requests the control plane relays from `docker service logs`. */
  logRequests: LogRequest[];
}

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

export interface TaskReport {
  taskId: string;
  state: TaskState;
  message?: string;
  err?: string;
  containerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number };
  portStatus?: Record<string, unknown>;
  /** When the agent saw the change (ms since epoch). */
  timestamp: number;
}

export interface StatusRequest {
  reports: TaskReport[];
}

export interface StatusResponse {
  results: Array<{ taskId: string; ok: boolean; error?: string }>;
}
