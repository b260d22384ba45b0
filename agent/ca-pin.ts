import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import { CONNECT_TIMEOUT_MS } from './client.ts';
import { AgentExit } from './join.ts';

/** `sha256:<hex of the DER>`, the form join tokens carry (the control plane's certificateDigest). */
export const derDigest = (der: Uint8Array) => `sha256:${createHash('sha256').update(der).digest('hex')}`;

export const pemDigest = (pem: string) => derDigest(new X509Certificate(pem).raw);

const toPem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;

/**
 * The CA this agent trusts for `url`, from the join token's `ca` claim, as Swarm's join pins the
 * digest in SWMTKN-1: undefined for plain http (and for `system`: the system roots then verify).
 * A saved CA with the pinned digest is used as is; otherwise the chain the server presents is read
 * over one unverified handshake (nothing is sent on it) and the certificate with that digest is
 * taken. Every request after that verifies against it alone.
 */
export async function pinnedCa(url: string, pin: string | undefined, saved: string | undefined): Promise<string | undefined> {
  const { protocol, hostname, port } = new URL(url);
  if (protocol === 'http:') return undefined;
  if (!pin) {
    throw new AgentExit(`the join token sends this host to ${url} but pins no CA to verify it by; get a token from this version of the control plane: docker swarm join-token worker`, 1, true);
  }
  if (pin === 'system') return undefined;
  if (!/^sha256:[0-9a-f]{64}$/.test(pin)) throw new AgentExit(`invalid join token: CA digest '${pin}' is not sha256:<64 hex digits>`, 1, true);
  if (saved && pemDigest(saved) === pin) return saved;
  const host = hostname.replace(/^\[|\]$/g, '');
  const chain = await presentedChain(host, Number(port || 443));
  const ca = chain.find((der) => derDigest(der) === pin);
  if (!ca) {
    const got = chain.map(derDigest).join(', ') || 'no certificate';
    throw new AgentExit(
      `the control plane at ${url} is not the one the join token names: its certificate chain (${got}) holds no CA with the pinned digest ${pin}; ` +
        'check the address, or get a fresh token with: docker swarm join-token worker',
      1,
      true,
    );
  }
  return toPem(ca);
}

/** The certificates a TLS server presents, leaf first, read without trusting them. */
function presentedChain(host: string, port: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, timeout: CONNECT_TIMEOUT_MS * 5 });
    const fail = (why: string) => {
      socket.destroy();
      reject(new AgentExit(`cannot reach the control plane at https://${host}:${port} to read its certificate: ${why}; check the address in the token or pass host:port`));
    };
    socket.once('error', (err) => fail((err as NodeJS.ErrnoException).code ?? err.message));
    socket.once('timeout', () => fail('no TLS handshake'));
    socket.once('secureConnect', () => {
      const chain: Buffer[] = [];
      let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (cert?.raw && !chain.some((c) => c.equals(cert!.raw))) {
        chain.push(cert.raw);
        cert = cert.issuerCertificate;
      }
      socket.end();
      resolve(chain);
    });
  });
}
