import { eq } from 'drizzle-orm';
import { decodeJwt, SignJWT, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSigningKey } from '../../control-plane/auth/signing-keys.ts';
import { createSigningKey, signJoinToken, signNodeCredential, type SigningKey } from '../../control-plane/auth/tokens.ts';
import { clusters } from '../../control-plane/db/schema/index.ts';
import { createTestApp, type TestApp } from '../harness/app.ts';
import { expectAgentError, expectRefusedWithoutChange, join, json, nodeInfo, workerToken } from './helpers.ts';

/**
 * POST /agent/v1/join {token, node}: the token is the only credential, so every way of faking one
 * must be a 401 in Docker's error shape that admits no node.
 */
let t: TestApp;
let key: SigningKey;
let valid: string;
let claims: ReturnType<typeof decodeJwt>;
beforeAll(async () => {
  t = await createTestApp();
  const row = await t.deps.database.db.query.clusters.findFirst({ where: eq(clusters.id, t.clusterId) });
  key = await openSigningKey(t.deps.keyRing, row!);
  valid = await workerToken(t);
  claims = decodeJwt(valid);
});
afterAll(() => t.close());

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const refused = (token: unknown, message: RegExp, status = 401) => expectRefusedWithoutChange(t, () => join(t, token), status, message, expectAgentError);

/** The claims of a worker token for this cluster, valid for an hour, as the valid token's jti. */
const joinClaims = (over: Partial<Parameters<typeof signJoinToken>[2]> = {}): Parameters<typeof signJoinToken>[2] => ({
  clusterId: t.clusterId,
  role: 'worker',
  jti: claims.jti!,
  issuedAt: Date.now(),
  expiresAt: Date.now() + 3600_000,
  url: 'http://127.0.0.1:2399',
  ...over,
});

/** Signs arbitrary claims with the cluster's real key, so only the claim under test is wrong. */
async function signWith(signingKey: SigningKey, header: Record<string, unknown>, payload: Record<string, unknown>) {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'swarmlet-join+jwt', kid: t.clusterId, ...header })
    .sign(await importJWK(signingKey.privateJwk as JWK, 'EdDSA'));
}

describe('forged and invalid join tokens', () => {
  it('a token signed by another key, naming this cluster → 401', async () => {
    const other = await createSigningKey();
    const forged = await signJoinToken(other, 'swarmlet', joinClaims());
    await refused(forged, /^invalid join token$/);
  });

  it('an expired token → 401 "expired join token"', async () => {
    const expired = await signJoinToken(key, 'swarmlet', joinClaims({ issuedAt: Date.now() - 7200_000, expiresAt: Date.now() - 3600_000 }));
    await refused(expired, /^expired join token$/);
  });

  it('an alg:none token → 401', async () => {
    const none = `${b64({ alg: 'none', typ: 'swarmlet-join+jwt', kid: t.clusterId })}.${b64(claims)}.`;
    await refused(none, /^invalid join token$/);
  });

  it('an HS256 token keyed with the public key (algorithm confusion) → 401', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'swarmlet-join+jwt', kid: t.clusterId }).sign(secret);
    await refused(hs, /^invalid join token$/);
  });

  it('a token for another audience → 401', async () => {
    await refused(await signWith(key, {}, { ...claims, aud: 'node' }), /^invalid join token$/);
  });

  it('a token from another issuer → 401', async () => {
    await refused(await signWith(key, {}, { ...claims, iss: 'someone-else' }), /^invalid join token$/);
    const other = await signJoinToken(key, 'someone-else', joinClaims({ url: '' }));
    await refused(other, /^invalid join token$/);
  });

  it('a node credential presented as a join token (wrong typ and audience) → 401', async () => {
    const credential = await signNodeCredential(key, 'swarmlet', { clusterId: t.clusterId, nodeId: 'n1', generation: 1, expiresAt: Date.now() + 60_000 });
    await refused(credential, /^invalid join token$/);
  });

  it('a token of the right audience but a different typ → 401', async () => {
    await refused(await signWith(key, { typ: 'JWT' }, claims), /^invalid join token$/);
  });

  it('a tampered payload (role or jti changed after signing) → 401', async () => {
    const [h, , s] = valid.split('.');
    await refused(`${h}.${b64({ ...claims, role: 'manager' })}.${s}`, /^invalid join token$/);
    await refused(`${h}.${b64({ ...claims, jti: 'x'.repeat(25) })}.${s}`, /^invalid join token$/);
  });

  it('a token whose kid names an unknown cluster → 401', async () => {
    await refused(await signWith(key, { kid: 'nosuchcluster' }, claims), /^invalid join token: unknown cluster$/);
  });

  it('a token whose kid is not a string → 401, not a server error', async () => {
    await refused(await signWith(key, { kid: { $ne: null } }, claims), /^invalid join token: unknown cluster$/);
    await refused(await signWith(key, { kid: 12 }, claims), /^invalid join token: unknown cluster$/);
    await refused(await signWith(key, { kid: undefined }, claims), /^invalid join token: unknown cluster$/);
  });

  it('a validly signed token for a jti that was never issued → 401', async () => {
    await refused(await signWith(key, {}, { ...claims, jti: 'neverissued00000000000000' }), /rotated or revoked/);
  });

  it('a validly signed token with missing claims → 401', async () => {
    const { role: _role, ...noRole } = claims;
    await refused(await signWith(key, {}, noRole), /^invalid join token: missing claims$/);
  });

  it('garbage, an empty string and a non-string token', async () => {
    await refused('not-a-jwt', /^malformed join token$/);
    await refused('a.b.c', /^malformed join token$/);
    await refused('', /malformed join token|token is required/);
    await refused(42, /^token is required$/, 400);
    await refused(undefined, /^token is required$/, 400);
  });
});

describe('the join request itself', () => {
  it('a valid token with a bad node description → 400, no node and the token stays usable', async () => {
    const send = (node: unknown) => () =>
      Promise.resolve(
        t.app.request('http://cp.test/agent/v1/join', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: valid, node }) }),
      );
    await expectRefusedWithoutChange(t, send(undefined), 400, /node description is required/, expectAgentError);
    await expectRefusedWithoutChange(t, send({ ...nodeInfo('h'), hostname: '' }), 400, /^node\.hostname must be a string of 1 to 253 characters$/, expectAgentError);
    await expectRefusedWithoutChange(t, send({ ...nodeInfo('h'), nanoCpus: '2' }), 400, /^node\.nanoCpus must be a non-negative integer$/, expectAgentError);
    await expectRefusedWithoutChange(t, send({ ...nodeInfo('h'), addr: 7 }), 400, /^node\.addr must be the IP address of the node$/, expectAgentError);
  });

  it('malformed JSON → 400', async () => {
    await expectRefusedWithoutChange(
      t,
      () => Promise.resolve(t.app.request('http://cp.test/agent/v1/join', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"token":' })),
      400,
      /^invalid JSON body/,
      expectAgentError,
    );
  });

  it('the current token joins, and the node appears in docker node ls', async () => {
    const joined = await json(await join(t, valid, 'real-host'));
    expect(joined).toMatchObject({ clusterId: t.clusterId, nodeId: expect.stringMatching(/^[0-9a-z]{25}$/) });
    expect(decodeJwt(joined.credential)).toMatchObject({ aud: 'node', sub: joined.nodeId, cid: t.clusterId });
    const nodes = await json<any[]>(await t.request('GET', '/v1.41/nodes'));
    expect(nodes.map((n) => n.Description.Hostname).sort()).toEqual(['control-plane', 'real-host']);
  });
});
