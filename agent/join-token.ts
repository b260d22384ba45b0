import { UsageError } from './config.ts';

export interface JoinTokenClaims {
  url: string;
  clusterId: string;
  role: string;
  jti: string;
  /** The CA to pin for an https URL: `sha256:<hex>`, or `system` for the system roots. */
  ca: string | undefined;
}

/**
 * Reads the claims of a join token without verifying it: the agent only needs to know where to
 * go; the control plane verifies the signature when the token is spent.
 */
export function decodeJoinToken(token: string): JoinTokenClaims {
  const parts = token.trim().split('.');
  let payload: Record<string, unknown> | undefined;
  if (parts.length === 3) {
    try {
      payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    } catch {
      payload = undefined;
    }
  }
  if (!payload || typeof payload.url !== 'string') {
    throw new UsageError('invalid join token: not a swarmlet join token; get one with: docker swarm join-token worker');
  }
  const ca = typeof payload.ca === 'string' ? payload.ca : undefined;
  return { url: payload.url, clusterId: String(payload.cid ?? ''), role: String(payload.role ?? ''), jti: String(payload.jti ?? ''), ca };
}

/** `host:port` (as `docker swarm join --token T host:port` passes it) in place of the token's URL. */
export function controlPlaneUrl(tokenUrl: string, addr?: string): string {
  if (!addr) return tokenUrl.replace(/\/+$/, '');
  if (/^https?:\/\//.test(addr)) return addr.replace(/\/+$/, '');
  const scheme = new URL(tokenUrl).protocol;
  if (!/^[^\s/:]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(addr)) throw new UsageError(`invalid address '${addr}': expected host:port`);
  return `${scheme}//${addr}`;
}
