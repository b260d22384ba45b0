import { networkInterfaces, hostname as osHostname } from 'node:os';
import type { LogFormat } from '../protocol/log.ts';
import { hostUpstreams, parseUpstream, type Upstream } from './dns/upstream.ts';
import { parseListenAddr } from './metrics.ts';

/** Everything the agent is told at start, from flags first and SWARM_AGENT_* variables second. */
export interface AgentConfig {
  stateDir: string;
  /** Docker engine address: unix:///path, tcp://host:port or a bare socket path. */
  dockerHost: string;
  /** Taken from DOCKER_HOST, which users export for the docker CLI (and so may name the control plane). */
  dockerHostFromDockerCliEnv: boolean;
  advertiseAddr: string;
  hostname: string;
  labels: Record<string, string>;
  logFormat: LogFormat;
  debug: boolean;
  /** How long one assignments long-poll may wait (the control plane caps it too). */
  longPollWaitMs: number;
  /** The node's WireGuard interface for overlay traffic (hosts sharing a machine need different names). */
  wireguardInterface: string;
  /** Where the tasks' DNS server sends names that are not the swarm's: the host's resolvers (/etc/resolv.conf) unless told. */
  dnsUpstreams: Upstream[];
  /** Where the Prometheus metrics listener binds (plain HTTP, unauthenticated); off when unset. */
  metricsAddr: { host: string; port: number } | undefined;
}

export const DEFAULT_ENGINE = 'unix:///var/run/docker.sock';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Env = Record<string, string | undefined>;

/** First non-loopback IPv4 address: what other hosts most likely reach this one at. */
export function defaultAdvertiseAddr(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function parseLabels(values: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --label '${v}': expected key=value`);
    labels[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return labels;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new UsageError(`invalid ${name} '${raw}': expected a positive number of milliseconds`);
  return Number(raw);
}

/** `--dns-upstream` (repeatable) or SWARM_AGENT_DNS_UPSTREAM (comma-separated), else the host's /etc/resolv.conf. */
function dnsUpstreams(flag: string | string[] | boolean | undefined, env: string | undefined): Upstream[] {
  const given = Array.isArray(flag) ? flag : typeof flag === 'string' ? [flag] : (env ?? '').split(',').filter((v) => v.trim());
  if (!given.length) return hostUpstreams();
  return given.map((v) => {
    const upstream = parseUpstream(v);
    if (!upstream) throw new UsageError(`invalid --dns-upstream '${v}': expected an IP address, optionally with :port`);
    return upstream;
  });
}

function metricsAddr(raw: string | undefined): AgentConfig['metricsAddr'] {
  if (raw === undefined) return undefined;
  const addr = parseListenAddr(raw);
  if (!addr) throw new UsageError(`invalid --metrics-addr '${raw}': expected host:port, e.g. 127.0.0.1:9323`);
  return addr;
}

/** Flags the CLI parsed (repeatable ones as arrays) merged over the environment, with defaults. */
export function loadAgentConfig(flags: Record<string, string | string[] | boolean | undefined>, env: Env = process.env): AgentConfig {
  const str = (flag: string, envName: string): string | undefined => {
    const v = flags[flag];
    if (typeof v === 'string') return v;
    if (Array.isArray(v)) return v[v.length - 1];
    return env[envName] || undefined;
  };
  const logFormat = str('log-format', 'SWARM_AGENT_LOG_FORMAT') ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`invalid --log-format '${logFormat}': expected text or json`);
  const labelFlags = flags.label;
  const labelValues = Array.isArray(labelFlags) ? labelFlags : typeof labelFlags === 'string' ? [labelFlags] : (env.SWARM_AGENT_LABELS ?? '').split(',').filter(Boolean);
  return {
    stateDir: str('state-dir', 'SWARM_AGENT_STATE_DIR') ?? '/var/lib/swarm-agent',
    dockerHost: str('docker-host', 'SWARM_AGENT_DOCKER_HOST') ?? env.DOCKER_HOST ?? DEFAULT_ENGINE,
    dockerHostFromDockerCliEnv: str('docker-host', 'SWARM_AGENT_DOCKER_HOST') === undefined && !!env.DOCKER_HOST,
    advertiseAddr: str('advertise-addr', 'SWARM_AGENT_ADVERTISE_ADDR') ?? defaultAdvertiseAddr(),
    hostname: str('hostname', 'SWARM_AGENT_HOSTNAME') ?? osHostname(),
    labels: parseLabels(labelValues),
    logFormat,
    debug: flags.debug === true || env.SWARM_AGENT_DEBUG === '1',
    longPollWaitMs: positiveInt(env, 'SWARM_AGENT_LONG_POLL_WAIT_MS', 30_000),
    wireguardInterface: str('wireguard-interface', 'SWARM_AGENT_WIREGUARD_INTERFACE') ?? 'swarmlet0',
    dnsUpstreams: dnsUpstreams(flags['dns-upstream'], env.SWARM_AGENT_DNS_UPSTREAM),
    metricsAddr: metricsAddr(str('metrics-addr', 'SWARM_AGENT_METRICS_ADDR')),
  };
}
