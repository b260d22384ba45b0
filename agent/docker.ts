import Dockerode from 'dockerode';

/** A dockerode client for `unix:///path`, a bare socket path, or `tcp://host:port`. */
export function connectDocker(dockerHost: string): Dockerode {
  if (dockerHost.startsWith('unix://')) return new Dockerode({ socketPath: dockerHost.slice('unix://'.length) });
  if (dockerHost.startsWith('/')) return new Dockerode({ socketPath: dockerHost });
  const m = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(dockerHost);
  if (!m) throw new Error(`invalid docker host '${dockerHost}': expected unix:///path or tcp://host:port`);
  return new Dockerode({ host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]), protocol: m[1] === 'https' ? 'https' : 'http' });
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
