import Dockerode from 'dockerode';

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
  try {
    const res = await fetch(`${m[1] === 'https' ? 'https' : 'http'}://${m[2]}:${m[3]}/_ping`, { signal: AbortSignal.timeout(3_000) });
    await res.body?.cancel();
    return /swarmlet/.test(res.headers.get('server') ?? '');
  } catch {
    return false;
  }
}

export function engineStatus(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The engine's own message (`{"message": ...}`) when it gave one. */
export function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; reason?: string; message?: string };
  return e?.json?.message ?? e?.message ?? String(err);
}
