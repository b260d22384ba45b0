import type Dockerode from 'dockerode';
import type { NodeInfo } from '../protocol/agent-api.ts';
import type { AgentConfig } from './config.ts';

/** Engine labels come as "k=v" strings. */
function engineLabels(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(labels)) return out;
  for (const l of labels) {
    const eq = String(l).indexOf('=');
    if (eq > 0) out[String(l).slice(0, eq)] = String(l).slice(eq + 1);
  }
  return out;
}

/** What the control plane learns about this host at join: its engine's resources and identity. */
export async function describeNode(docker: Dockerode, config: AgentConfig, wireguardPublicKey: string): Promise<NodeInfo> {
  const info = await docker.info();
  return {
    hostname: config.hostname,
    nanoCpus: Math.round(Number(info.NCPU ?? 0) * 1e9),
    memoryBytes: Number(info.MemTotal ?? 0),
    os: String(info.OSType || 'linux'),
    arch: String(info.Architecture || process.arch),
    engineVersion: String(info.ServerVersion || 'unknown'),
    engineLabels: engineLabels(info.Labels),
    addr: config.advertiseAddr,
    wireguardPublicKey,
    labels: config.labels,
  };
}
