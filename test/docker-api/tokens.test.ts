import { decodeProtectedHeader, importJWK, type JWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ClusterKeyLookup,
  createSigningKey,
  signJoinToken,
  signNodeCredential,
  type SigningKey,
  verifyJoinToken,
  verifyNodeCredential,
} from '../../control-plane/auth/tokens.ts';
import { ApiError } from '../../control-plane/errors.ts';

/** Unit tests of control-plane/auth/tokens.ts: everything a verifier must pin. */
const ISSUER = 'swarmlet';
const POLICY = { issuer: ISSUER, maxTtlMs: 24 * 3600_000 };
let keyA: SigningKey;
let keyB: SigningKey;
let lookup: ClusterKeyLookup;
const now = Date.now();
const joinClaims = (over: Partial<Parameters<typeof signJoinToken>[2]> = {}) => ({
  clusterId: 'clustera',
  role: 'worker' as const,
  jti: 'jti1',
  issuedAt: now,
  expiresAt: now + 3600_000,
  url: 'http://127.0.0.1:2399',
  ...over,
});

beforeAll(async () => {
  keyA = await createSigningKey();
  keyB = await createSigningKey();
  const keys: Record<string, SigningKey> = { clustera: keyA, clusterb: keyB };
  lookup = async (id) => keys[id];
});

async function rejected(promise: Promise<unknown>, message: RegExp) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).status).toBe(401);
  expect((err as ApiError).message).toMatch(message);
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const parts = (token: string) => {
  const [h, p, s] = token.split('.') as [string, string, string];
  return { h, p, s, header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()) };
};
const signRaw = async (key: SigningKey, header: Record<string, unknown>, payload: Record<string, unknown>) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', ...header }).sign(await importJWK(key.privateJwk as JWK, 'EdDSA'));

describe('join tokens', () => {
  it('round-trips: EdDSA, typed, kid = cluster, and deterministic for the same claims', async () => {
    const token = await signJoinToken(keyA, ISSUER, joinClaims());
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'swarmlet-join+jwt', kid: 'clustera' });
    expect(await verifyJoinToken(token, lookup, POLICY)).toEqual({ clusterId: 'clustera', role: 'worker', jti: 'jti1' });
    expect(await signJoinToken(keyA, ISSUER, joinClaims())).toBe(token);
  });

  it('pins the algorithm: alg none and HS256 are refused', async () => {
    const { payload } = parts(await signJoinToken(keyA, ISSUER, joinClaims()));
    await rejected(verifyJoinToken(`${b64({ alg: 'none', typ: 'swarmlet-join+jwt', kid: 'clustera' })}.${b64(payload)}.`, lookup, POLICY), /^invalid join token$/);
    const hs = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', typ: 'swarmlet-join+jwt', kid: 'clustera' })
      .sign(new TextEncoder().encode(keyA.publicJwk.x!));
    await rejected(verifyJoinToken(hs, lookup, POLICY), /^invalid join token$/);
  });

  it('pins the audience: a node credential is not a join token and vice versa', async () => {
    const credential = await signNodeCredential(keyA, ISSUER, { clusterId: 'clustera', nodeId: 'n1', generation: 1, expiresAt: now + 60_000 });
    await rejected(verifyJoinToken(credential, lookup, POLICY), /^invalid join token$/);
    const join = await signJoinToken(keyA, ISSUER, joinClaims());
    await rejected(verifyNodeCredential(join, lookup, POLICY), /^invalid node credential$/);
    // Right typ, wrong audience:
    const { payload } = parts(join);
    await rejected(verifyJoinToken(await signRaw(keyA, { typ: 'swarmlet-join+jwt', kid: 'clustera' }, { ...payload, aud: 'node' }), lookup, POLICY), /^invalid join token$/);
  });

  it('pins the issuer', async () => {
    await rejected(verifyJoinToken(await signJoinToken(keyA, 'other-issuer', joinClaims()), lookup, POLICY), /^invalid join token$/);
    await rejected(verifyJoinToken(await signJoinToken(keyA, ISSUER, joinClaims()), lookup, { ...POLICY, issuer: 'other-issuer' }), /^invalid join token$/);
  });

  it('pins typ', async () => {
    const { payload } = parts(await signJoinToken(keyA, ISSUER, joinClaims()));
    for (const typ of ['JWT', 'swarmlet-node+jwt', undefined]) {
      await rejected(verifyJoinToken(await signRaw(keyA, { typ, kid: 'clustera' }, payload), lookup, POLICY), /^invalid join token$/);
    }
  });

  it('refuses a tampered payload or header', async () => {
    const token = await signJoinToken(keyA, ISSUER, joinClaims());
    const { h, s, header, payload } = parts(token);
    await rejected(verifyJoinToken(`${h}.${b64({ ...payload, role: 'manager' })}.${s}`, lookup, POLICY), /^invalid join token$/);
    await rejected(verifyJoinToken(`${h}.${b64({ ...payload, exp: payload.exp + 86400 })}.${s}`, lookup, POLICY), /^invalid join token$/);
    await rejected(verifyJoinToken(`${b64({ ...header, typ: 'swarmlet-join+jwt ' })}.${parts(token).p}.${s}`, lookup, POLICY), /^invalid join token$/);
    // A flipped signature bit
    const flipped = Buffer.from(s, 'base64url');
    flipped[0]! ^= 1;
    await rejected(verifyJoinToken(`${h}.${parts(token).p}.${flipped.toString('base64url')}`, lookup, POLICY), /^invalid join token$/);
  });

  it('refuses a wrong kid: the key of the named cluster must have signed it, and cid must match kid', async () => {
    // Signed by A but claiming B in the header: B's key does not verify it.
    await rejected(verifyJoinToken(await signJoinToken(keyA, ISSUER, joinClaims({ clusterId: 'clusterb' })), lookup, POLICY), /^invalid join token$/);
    // Signed by A, kid A, but cid B inside.
    const { payload } = parts(await signJoinToken(keyA, ISSUER, joinClaims()));
    await rejected(verifyJoinToken(await signRaw(keyA, { typ: 'swarmlet-join+jwt', kid: 'clustera' }, { ...payload, cid: 'clusterb' }), lookup, POLICY), /^invalid join token$/);
    // An unknown cluster, a missing kid, a non-string kid
    await rejected(verifyJoinToken(await signJoinToken(keyA, ISSUER, joinClaims({ clusterId: 'nosuch' })), lookup, POLICY), /^invalid join token: unknown cluster$/);
    await rejected(verifyJoinToken(await signRaw(keyA, { typ: 'swarmlet-join+jwt' }, payload), lookup, POLICY), /unknown cluster/);
    await rejected(verifyJoinToken(await signRaw(keyA, { typ: 'swarmlet-join+jwt', kid: ['clustera'] }, payload), lookup, POLICY), /unknown cluster/);
  });

  it('refuses an expired token as expired', async () => {
    const expired = await signJoinToken(keyA, ISSUER, joinClaims({ issuedAt: now - 7200_000, expiresAt: now - 3600_000 }));
    await rejected(verifyJoinToken(expired, lookup, POLICY), /^expired join token$/);
  });

  it('refuses malformed input and missing claims', async () => {
    for (const junk of ['', 'abc', 'a.b.c', '..', `${b64({ alg: 'EdDSA' })}`]) await rejected(verifyJoinToken(junk, lookup, POLICY), /^malformed join token$/);
    const { payload } = parts(await signJoinToken(keyA, ISSUER, joinClaims()));
    await rejected(verifyJoinToken(await signRaw(keyA, { typ: 'swarmlet-join+jwt', kid: 'clustera' }, { ...payload, role: 'admin' }), lookup, POLICY), /missing claims/);
    const { jti: _jti, ...noJti } = payload;
    await rejected(verifyJoinToken(await signRaw(keyA, { typ: 'swarmlet-join+jwt', kid: 'clustera' }, noJti), lookup, POLICY), /missing claims/);
  });
});

describe('node credentials', () => {
  it('round-trip with the node, cluster and generation', async () => {
    const credential = await signNodeCredential(keyB, ISSUER, { clusterId: 'clusterb', nodeId: 'node7', generation: 3, expiresAt: now + 60_000 });
    expect(decodeProtectedHeader(credential)).toEqual({ alg: 'EdDSA', typ: 'swarmlet-node+jwt', kid: 'clusterb' });
    expect(await verifyNodeCredential(credential, lookup, POLICY)).toEqual({ clusterId: 'clusterb', nodeId: 'node7', generation: 3 });
  });

  it('refuse another cluster\'s key, expiry and a tampered generation', async () => {
    const forged = await signNodeCredential(keyA, ISSUER, { clusterId: 'clusterb', nodeId: 'node7', generation: 3, expiresAt: now + 60_000 });
    await rejected(verifyNodeCredential(forged, lookup, POLICY), /^invalid node credential$/);
    const expired = await signNodeCredential(keyB, ISSUER, { clusterId: 'clusterb', nodeId: 'node7', generation: 3, expiresAt: now - 1000 });
    await rejected(verifyNodeCredential(expired, lookup, POLICY), /^expired node credential$/);
    const { h, s, payload } = parts(await signNodeCredential(keyB, ISSUER, { clusterId: 'clusterb', nodeId: 'node7', generation: 3, expiresAt: now + 60_000 }));
    await rejected(verifyNodeCredential(`${h}.${b64({ ...payload, gen: 4 })}.${s}`, lookup, POLICY), /^invalid node credential$/);
  });
});
