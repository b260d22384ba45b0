import {
  type CryptoKey,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { ApiError } from '../errors.ts';
import type { Config } from '../config.ts';
import type { JsonWebKeyLike } from '../db/schema/index.ts';

const ALG = 'EdDSA';
const JOIN_TYPE = 'swarmlet-join+jwt';
const NODE_TYPE = 'swarmlet-node+jwt';

export interface SigningKey {
  privateJwk: JsonWebKeyLike;
  publicJwk: JsonWebKeyLike;
}

export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
  return {
    privateJwk: (await exportJWK(privateKey)) as JsonWebKeyLike,
    publicJwk: (await exportJWK(publicKey)) as JsonWebKeyLike,
  };
}

const imported = new Map<string, Promise<CryptoKey | Uint8Array>>();
function importKey(jwk: JsonWebKeyLike): Promise<CryptoKey | Uint8Array> {
  // A private key is cached under its own d: under x alone, any JWK naming a cluster's public key would sign as it.
  const cacheKey = jwk.d ? `private:${jwk.x}:${jwk.d}` : `public:${jwk.x}`;
  let key = imported.get(cacheKey);
  if (!key) {
    key = importJWK(jwk as JWK, ALG);
    imported.set(cacheKey, key);
  }
  return key;
}

export interface JoinClaims {
  clusterId: string;
  role: 'worker' | 'manager';
  jti: string;
  issuedAt: number; // ms
  expiresAt: number; // ms
  url: string;
  /** The CA the agent pins before it trusts `url` (`sha256:<hex>` or `system`); absent for http. */
  ca?: string;
}

/**
 * Join tokens are re-derived rather than stored: Ed25519 signatures are deterministic, so the same
 * claims always give the same token, and the database keeps only the jti row that makes it valid.
 */
export async function signJoinToken(key: SigningKey, issuer: string, claims: JoinClaims): Promise<string> {
  return new SignJWT({ cid: claims.clusterId, role: claims.role, url: claims.url, ...(claims.ca ? { ca: claims.ca } : {}) })
    .setProtectedHeader({ alg: ALG, typ: JOIN_TYPE, kid: claims.clusterId })
    .setIssuer(issuer)
    .setAudience('join')
    .setJti(claims.jti)
    .setIssuedAt(Math.floor(claims.issuedAt / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt / 1000))
    .sign(await importKey(key.privateJwk));
}

export interface NodeClaims {
  clusterId: string;
  nodeId: string;
  generation: number;
  expiresAt: number; // ms
}

export async function signNodeCredential(key: SigningKey, issuer: string, claims: NodeClaims): Promise<string> {
  return new SignJWT({ cid: claims.clusterId, gen: claims.generation })
    .setProtectedHeader({ alg: ALG, typ: NODE_TYPE, kid: claims.clusterId })
    .setIssuer(issuer)
    .setAudience('node')
    .setSubject(claims.nodeId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(claims.expiresAt / 1000))
    .sign(await importKey(key.privateJwk));
}

/** Finds the public key of the cluster named in the token's `kid`; undefined when there is none. */
export type ClusterKeyLookup = (clusterId: string) => Promise<{ publicJwk: JsonWebKeyLike } | undefined>;

/**
 * What a token must satisfy besides its signature: who issued it, and how far ahead its `exp` may
 * lie. A token without `exp`, or one that outlives the policy (a key thief's 100-year token), is refused.
 */
export interface TokenPolicy {
  issuer: string;
  maxTtlMs: number;
}

/** Tolerated clock difference between the instance that signed a token and the one checking it. */
const CLOCK_SKEW_S = 60;

/**
 * Verifies a token with everything pinned: algorithm, type, audience, issuer, and the signing key of
 * the cluster the token claims to belong to. Any failure is one 401 that names no internals.
 */
async function verify(token: string, lookup: ClusterKeyLookup, policy: TokenPolicy, audience: string, typ: string, clockToleranceS = 0) {
  const what = audience === 'join' ? 'join token' : 'node credential';
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    throw new ApiError('unauthorized', `malformed ${what}`);
  }
  // The kid reaches a database lookup: anything but a string is a forgery, not a server error.
  if (typeof kid !== 'string') throw new ApiError('unauthorized', `invalid ${what}: unknown cluster`);
  const key = await lookup(kid);
  if (!key) throw new ApiError('unauthorized', `invalid ${what}: unknown cluster`);
  try {
    const { payload } = await jwtVerify(token, await importKey(key.publicJwk), {
      algorithms: [ALG],
      audience,
      issuer: policy.issuer,
      typ,
      clockTolerance: clockToleranceS,
      requiredClaims: ['exp'],
    });
    if (payload.cid !== kid) throw new Error('cluster mismatch');
    if (payload.exp! > Date.now() / 1000 + policy.maxTtlMs / 1000 + CLOCK_SKEW_S) throw new Error('exp beyond policy');
    return payload;
  } catch (err) {
    const reason = (err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'expired' : 'invalid';
    throw new ApiError('unauthorized', `${reason} ${what}`);
  }
}

export async function verifyJoinToken(token: string, lookup: ClusterKeyLookup, policy: TokenPolicy) {
  const p = await verify(token, lookup, policy, 'join', JOIN_TYPE);
  if (typeof p.jti !== 'string' || (p.role !== 'worker' && p.role !== 'manager')) {
    throw new ApiError('unauthorized', 'invalid join token: missing claims');
  }
  // The role claim is only informative: the join token's stored row decides the role (admitNode).
  return { clusterId: p.cid as string, role: p.role as 'worker' | 'manager', jti: p.jti };
}

/**
 * `expiredGraceMs` accepts a credential that expired at most that long ago: only a rejoin uses it,
 * where the credential proves which node is coming back and a valid join token is also required.
 */
export async function verifyNodeCredential(token: string, lookup: ClusterKeyLookup, policy: TokenPolicy, expiredGraceMs = 0) {
  const p = await verify(token, lookup, policy, 'node', NODE_TYPE, Math.floor(expiredGraceMs / 1000));
  if (typeof p.sub !== 'string' || typeof p.gen !== 'number') {
    throw new ApiError('unauthorized', 'invalid node credential: missing claims');
  }
  return { clusterId: p.cid as string, nodeId: p.sub, generation: p.gen };
}

export const joinTokenPolicy = (config: Config): TokenPolicy => ({ issuer: config.issuer, maxTtlMs: config.tokenMaxTtl.joinMs });
export const nodeCredentialPolicy = (config: Config): TokenPolicy => ({ issuer: config.issuer, maxTtlMs: config.tokenMaxTtl.nodeCredentialMs });
