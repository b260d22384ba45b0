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
  const cacheKey = `${jwk.d ? 'private' : 'public'}:${jwk.x}`;
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
}

/**
 * Join tokens are re-derived rather than stored: Ed25519 signatures are deterministic, so the same
 * claims always give the same token, and the database keeps only the jti row that makes it valid.
 */
export async function signJoinToken(key: SigningKey, issuer: string, claims: JoinClaims): Promise<string> {
  return new SignJWT({ cid: claims.clusterId, role: claims.role, url: claims.url })
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
export type ClusterKeyLookup = (clusterId: string) => Promise<SigningKey | undefined>;

/**
 * Verifies a token with everything pinned: algorithm, type, audience, issuer, and the signing key of
 * the cluster the token claims to belong to. Any failure is one 401 that names no internals.
 */
async function verify(token: string, lookup: ClusterKeyLookup, issuer: string, audience: string, typ: string, clockToleranceS = 0) {
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
      issuer,
      typ,
      clockTolerance: clockToleranceS,
    });
    if (payload.cid !== kid) throw new Error('cluster mismatch');
    return payload;
  } catch (err) {
    const reason = (err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'expired' : 'invalid';
    throw new ApiError('unauthorized', `${reason} ${what}`);
  }
}

export async function verifyJoinToken(token: string, lookup: ClusterKeyLookup, issuer: string) {
  const p = await verify(token, lookup, issuer, 'join', JOIN_TYPE);
  if (typeof p.jti !== 'string' || (p.role !== 'worker' && p.role !== 'manager')) {
    throw new ApiError('unauthorized', 'invalid join token: missing claims');
  }
  return { clusterId: p.cid as string, role: p.role as 'worker' | 'manager', jti: p.jti };
}

/**
 * `expiredGraceMs` accepts a credential that expired at most that long ago: only a rejoin uses it,
 * where the credential proves which node is coming back and a valid join token is also required.
 */
export async function verifyNodeCredential(token: string, lookup: ClusterKeyLookup, issuer: string, expiredGraceMs = 0) {
  const p = await verify(token, lookup, issuer, 'node', NODE_TYPE, Math.floor(expiredGraceMs / 1000));
  if (typeof p.sub !== 'string' || typeof p.gen !== 'number') {
    throw new ApiError('unauthorized', 'invalid node credential: missing claims');
  }
  return { clusterId: p.cid as string, nodeId: p.sub, generation: p.gen };
}
