import type { TlsInfo } from './certificates.ts';

/**
 * What agents and the docker CLI are told to trust, runtime-neutral (the Worker has none: Cloudflare
 * terminates TLS). `pin` becomes the join tokens' `ca` claim: `sha256:<hex of the CA's DER>` for the
 * cluster CA, `system` for a user-supplied certificate that the system roots verify.
 */
export interface ClusterTrust {
  pin: string;
  tlsInfo: TlsInfo;
}

/** The pin a token for `url` carries: none for plain HTTP, which has nothing to pin. */
export function pinFor(trust: ClusterTrust | undefined, url: string): string | undefined {
  return trust && url.startsWith('https:') ? trust.pin : undefined;
}
