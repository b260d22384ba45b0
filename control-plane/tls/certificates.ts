import { createHash, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata API, loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// Node 20's WebCrypto signs; @peculiar/x509 only builds the ASN.1 around it.
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 24 * 3600_000;
/** Swarm's root CA lives 20 years; a leaf is re-issued at every start and whenever its names change. */
const CA_LIFETIME_MS = 20 * 365 * DAY;
const LEAF_LIFETIME_MS = 90 * DAY;

/** The cluster CA as kept on disk: the certificate and its PKCS#8 private key, both PEM. */
export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** A TLS identity Node's `tls.createSecureContext` takes: the chain (leaf first) and its key. */
export interface ServerCertificate {
  certPem: string;
  keyPem: string;
}

/** The Docker API's `TLSInfo` (ClusterInfo.TLSInfo): Go encodes its byte fields as standard base64. */
export interface TlsInfo {
  TrustRoot: string;
  CertIssuerSubject: string;
  CertIssuerPublicKey: string;
}

const toPem = (der: ArrayBuffer, label: string) => x509.PemConverter.encode(der, label);

export async function createClusterCa(now = new Date()): Promise<CaMaterial> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=swarmlet cluster CA, O=swarmlet',
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

/** A server certificate for `names` (addresses and DNS names), signed by the cluster CA; the CA follows the leaf in the chain. */
export async function issueServerCertificate(ca: CaMaterial, names: string[], now = new Date()): Promise<ServerCertificate> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), EC, false, ['sign']);
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: 'CN=swarmlet control plane, O=swarmlet',
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + LEAF_LIFETIME_MS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: isIP(value) ? ('ip' as const) : ('dns' as const), value }))),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem') + '\n' + ca.certPem, keyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

/** What a join token pins: `sha256:<hex of the certificate's DER>`, as Swarm's SWMTKN-1-<digest>. */
export function certificateDigest(certPemOrDer: string | Uint8Array): string {
  const der = typeof certPemOrDer === 'string' ? new Uint8Array(x509.PemConverter.decodeFirst(certPemOrDer)) : certPemOrDer;
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** `docker swarm ca` prints TrustRoot; the other two identify the issuer as dockerd does. */
export function tlsInfoOf(caCertPem: string): TlsInfo {
  const cert = new x509.X509Certificate(caCertPem);
  return {
    TrustRoot: caCertPem,
    CertIssuerSubject: Buffer.from(cert.subjectName.toArrayBuffer()).toString('base64'),
    CertIssuerPublicKey: Buffer.from(cert.publicKey.rawData).toString('base64'),
  };
}

/** The last certificate of a PEM chain: the root (or the topmost the file holds) of a user-supplied chain. */
export function lastCertificate(chainPem: string): string {
  const all = x509.PemConverter.decode(chainPem);
  if (!all.length) throw new Error('no certificate in the PEM file');
  return toPem(all[all.length - 1]!, 'CERTIFICATE');
}
