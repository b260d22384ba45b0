import type Dockerode from 'dockerode';
import type { Assignment, TaskAttachment } from '../../protocol/agent-api.ts';
import type { ContainerSpec, HealthConfig, Mount } from '../../protocol/task-spec.ts';
import { overlayNetworkName } from '../mesh/names.ts';
import { securityOptions } from './security-options.ts';
import { INIT_LABEL, NODE_LABEL, SERVICE_ID_LABEL, SERVICE_NAME_LABEL, SLOT_LABEL, TASK_LABEL } from './labels.ts';

const SECOND_NS = 1_000_000_000;
export const DEFAULT_STOP_GRACE_MS = 10_000;

const containerSpecOf = (a: Assignment): ContainerSpec => a.spec?.ContainerSpec ?? {};

/** Docker's task name: `service.slot.task`, or `service.node.task` for global services (slot 0). */
export function containerName(a: Assignment, nodeId: string): string {
  const slot = a.slot > 0 ? String(a.slot) : nodeId;
  return `${a.serviceName || a.serviceId}.${slot}.${a.taskId}`;
}

export function imageOf(a: Assignment): string {
  const image = containerSpecOf(a).Image;
  if (typeof image !== 'string' || !image) throw new Error('task has no image (ContainerSpec.Image is empty)');
  return image;
}

export function stopGraceMs(a: Assignment): number {
  const ns = containerSpecOf(a).StopGracePeriod;
  return typeof ns === 'number' && ns >= 0 ? Math.round(ns / 1e6) : DEFAULT_STOP_GRACE_MS;
}

/**
 * The docker CLI posts `Init: false` whenever `--init` is not given, so false cannot mean "the user
 * asked for no init". An init process as PID 1 forwards SIGTERM and reaps zombies; without it a
 * shell entrypoint ignores SIGTERM and every stop, scale-down and update waits the full grace
 * period. So tasks get an init unless the container label swarmlet.init=false opts out.
 */
export function wantsInit(spec: ContainerSpec): boolean {
  return spec.Labels?.[INIT_LABEL] !== 'false';
}

function taskLabels(a: Assignment, nodeId: string, spec: ContainerSpec): Record<string, string> {
  return {
    ...(spec.Labels ?? {}),
    [TASK_LABEL]: a.taskId,
    [NODE_LABEL]: nodeId,
    [SERVICE_ID_LABEL]: a.serviceId,
    [SERVICE_NAME_LABEL]: a.serviceName,
    [SLOT_LABEL]: String(a.slot),
    // Docker's own names, so tools that know Swarm recognise the containers.
    'com.docker.swarm.task.id': a.taskId,
    'com.docker.swarm.task.name': containerName(a, nodeId),
    'com.docker.swarm.service.id': a.serviceId,
    'com.docker.swarm.service.name': a.serviceName,
    'com.docker.swarm.node.id': nodeId,
  };
}

/** Host-mode published ports: the task's own container binds them. Ingress ports belong to the routing mesh. */
function hostPorts(a: Assignment) {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostPort: string }>> = {};
  for (const p of a.ports ?? []) {
    if (p.PublishMode !== 'host' || !p.TargetPort) continue;
    const key = `${p.TargetPort}/${p.Protocol ?? 'tcp'}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostPort: p.PublishedPort ? String(p.PublishedPort) : '' });
  }
  return { exposed, bindings };
}

function healthcheck(spec: ContainerSpec): HealthConfig | undefined {
  const h = spec.Healthcheck;
  if (!h || !Array.isArray(h.Test) || h.Test.length === 0) return undefined;
  const out: HealthConfig = { Test: h.Test };
  for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) if (typeof h[k] === 'number') out[k] = h[k];
  return out;
}

/** Swarm's `IP host` extra-host entries become the engine's `host:IP`. */
function extraHosts(hosts: string[] | undefined): string[] | undefined {
  if (!Array.isArray(hosts)) return undefined;
  return hosts.map((h) => {
    const [ip, ...names] = String(h).trim().split(/\s+/);
    return names.map((n) => `${n}:${ip}`);
  }).flat();
}

/** The task's log driver (compose `logging`); none set leaves the engine's default. */
function logConfig(a: Assignment): Dockerode.HostConfig['LogConfig'] {
  const driver = a.spec?.LogDriver;
  if (!driver?.Name) return undefined;
  return { Type: driver.Name, Config: driver.Options ?? {} };
}

/**
 * A swarm mount is the engine's mount (both are Docker's mount.Mount), passed through as the user
 * wrote it; dockerode's typing of it is narrower than Docker's (no npipe or cluster type).
 */
const engineMounts = (mounts: Mount[] | undefined) => mounts as Dockerode.MountSettings[] | undefined;

/**
 * The task's endpoint on one overlay network: its own address there. No aliases: Docker's resolver
 * in the container would answer the service name and aliases with this host's containers alone
 * (it knows no other host), so it must not know them and forwards them to the host's DNS server
 * (agent/dns), which answers with the tasks on every host.
 */
export function endpointConfig(attachment: TaskAttachment): Dockerode.EndpointSettings {
  return { IPAMConfig: { IPv4Address: attachment.address.split('/')[0] } };
}

/**
 * The network a task's container is created on, and the ones connected after: its first own
 * overlay network, or the engine's default network when it has none (a task only on ingress keeps
 * its default route there, as a plain `-p` task does); ingress is always connected, never first.
 */
export function splitAttachments(a: Assignment): { first: TaskAttachment | undefined; further: TaskAttachment[] } {
  const all = a.networks ?? [];
  const first = all.find((n) => !n.ingress);
  return { first, further: all.filter((n) => n !== first) };
}

/**
 * Turns a task's ContainerSpec into the engine's container-create request. `resolver` is the
 * host's DNS server for a task on overlay networks (its first own network's gateway): Docker's
 * resolver in the container forwards to it what it does not know itself, and it forwards to the
 * task's own DNSConfig.Nameservers what is not the swarm's. Ingress has no names, as in Docker.
 */
export function containerCreateOptions(a: Assignment, nodeId: string, resolver?: string, fileMounts: Dockerode.MountSettings[] = []): Dockerode.ContainerCreateOptions {
  const spec = containerSpecOf(a);
  const limits = a.spec?.Resources?.Limits ?? {};
  const { exposed, bindings } = hostPorts(a);
  const dns = spec.DNSConfig ?? {};
  const options: Dockerode.ContainerCreateOptions = {
    name: containerName(a, nodeId),
    Image: imageOf(a),
    Labels: taskLabels(a, nodeId, spec),
    Env: spec.Env ?? [],
    Hostname: spec.Hostname || undefined,
    WorkingDir: spec.Dir || undefined,
    User: spec.User || undefined,
    Tty: spec.TTY === true,
    OpenStdin: spec.OpenStdin === true,
    StopSignal: spec.StopSignal || undefined,
    StopTimeout: Math.ceil(stopGraceMs(a) / 1000),
    ExposedPorts: exposed,
    Healthcheck: healthcheck(spec),
    HostConfig: {
      Init: wantsInit(spec),
      // The control plane decides restarts (a replacement is a new task); the engine never restarts.
      RestartPolicy: { Name: 'no' },
      PortBindings: bindings,
      NanoCpus: limits.NanoCPUs || undefined,
      Memory: limits.MemoryBytes || undefined,
      PidsLimit: limits.Pids || undefined,
      // The task's secrets and configs, bind-mounted read-only from the agent's tmpfs.
      Mounts: fileMounts.length ? [...(engineMounts(spec.Mounts) ?? []), ...fileMounts] : engineMounts(spec.Mounts),
      ReadonlyRootfs: spec.ReadOnly === true,
      ExtraHosts: extraHosts(spec.Hosts),
      Dns: resolver ? [resolver] : dns.Nameservers,
      DnsSearch: dns.Search,
      DnsOptions: dns.Options,
      CapAdd: spec.CapabilityAdd,
      CapDrop: spec.CapabilityDrop,
      Sysctls: spec.Sysctls,
      Ulimits: spec.Ulimits,
      GroupAdd: spec.Groups,
      OomScoreAdj: spec.OomScoreAdj || undefined,
      SecurityOpt: securityOptions(spec.Privileges),
      LogConfig: logConfig(a),
    },
  };
  // The controller connects the further networks before the container starts.
  const { first } = splitAttachments(a);
  if (first) {
    const network = overlayNetworkName(first.networkId);
    options.HostConfig!.NetworkMode = network;
    options.NetworkingConfig = { EndpointsConfig: { [network]: endpointConfig(first) } };
  }
  if (Array.isArray(spec.Command) && spec.Command.length) options.Entrypoint = spec.Command;
  if (Array.isArray(spec.Args) && spec.Args.length) options.Cmd = spec.Args;
  return options;
}
