import Dockerode from 'dockerode';
import { Agent, request } from './undici.ts';

const TCP = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/;

/**
 * A dockerode client for `unix:///path`, a bare socket path, or `tcp://host:port`. Every
 * connection field is given, unset ones as undefined: docker-modem fills what is missing from
 * DOCKER_HOST, so a socket path alone would lose to a DOCKER_HOST exported for the docker CLI.
 */
export function connectDocker(dockerHost: string): Dockerode {
  const socketPath = dockerHost.startsWith('unix://') ? dockerHost.slice('unix://'.length) : dockerHost.startsWith('/') ? dockerHost : undefined;
  if (socketPath) return new Dockerode({ socketPath, host: undefined, port: undefined, protocol: undefined });
  const m = TCP.exec(dockerHost);
  if (!m) throw new Error(`invalid docker host '${dockerHost}': expected unix:///path or tcp://host:port`);
  return new Dockerode({ host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]), protocol: m[1] === 'https' ? 'https' : 'http', socketPath: undefined });
}

/**
 * Whether a tcp engine address is in fact a swarmlet control plane (its answers say
 * `Server: Docker/…-swarmlet`): the address the README has users export as DOCKER_HOST for the CLI.
 */
export async function isControlPlane(dockerHost: string): Promise<boolean> {
  const m = TCP.exec(dockerHost);
  if (!m) return false;
  // tcp:// is TLS when the CLI's DOCKER_TLS_VERIFY is set: try both. Only the Server header is read.
  const schemes = m[1] === 'tcp' ? ['https', 'http'] : [m[1]];
  for (const scheme of schemes) {
    try {
      const res = await request(`${scheme}://${m[2]}:${m[3]}/_ping`, { signal: AbortSignal.timeout(3_000), ...(scheme === 'https' ? { dispatcher: unverified } : {}) });
      await res.body.dump();
      return /swarmlet/.test(String(res.headers.server ?? ''));
    } catch {
      // not this scheme
    }
  }
  return false;
}

const unverified = new Agent({ connect: { rejectUnauthorized: false } });

export function engineStatus(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The engine's own message (`{"message": ...}`) when it gave one. */
export function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; reason?: string; message?: string };
  return e?.json?.message ?? e?.message ?? String(err);
}
