import { createClient } from '@libsql/client';
import { eq } from 'drizzle-orm';
import { decodeJwt, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyRingFrom, newKek, sealedWith } from '../../control-plane/auth/envelope.ts';
import { openSigningKey, sealSigningKeysAtRest } from '../../control-plane/auth/signing-keys.ts';
import { createSigningKey, type SigningKey } from '../../control-plane/auth/tokens.ts';
import { clusters, nodes } from '../../control-plane/db/schema/index.ts';
import { createTestApp, type TestApp } from '../harness/app.ts';
import { json, workerToken } from '../docker-api/helpers.ts';

/**
 * Issue 11, finding 2: whoever reads the database file must not be able to mint join tokens or node
 * credentials, and a token must be short-lived by policy and give no more than its stored row.
 */

/** The stored row, read straight from the file as an attacker with the file would. */
async function rowFromFile(t: TestApp): Promise<Record<string, any>> {
  const raw = createClient({ url: t.config.libsqlUrl });
  try {
    const { rows } = await raw.execute({ sql: 'SELECT signing_key FROM clusters WHERE id = ?', args: [t.clusterId] });
    return JSON.parse(String(rows[0]!.signing_key));
  } finally {
    raw.close();
  }
}

/** Every byte of the database: the file and its WAL. */
function fileBytes(t: TestApp): string {
  const path = t.config.libsqlUrl.slice('file:'.length);
  return [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f, 'latin1')).join('');
}

const realKey = async (t: TestApp) => openSigningKey(t.deps.keyRing, (await t.deps.database.db.query.clusters.findFirst({ where: eq(clusters.id, t.clusterId) }))!);

/** A join token as the control plane signs one, from any JWK, with any claims changed. */
/** `exp: null` leaves the claim out. */
async function mintJoin(t: TestApp, jwk: unknown, jti: string, over: JWTPayload = {}, exp: number | null = Math.floor(Date.now() / 1000) + 3600) {
  const payload: JWTPayload = { cid: t.clusterId, role: 'worker', url: '', iss: 'swarmlet', aud: 'join', jti, iat: Math.floor(Date.now() / 1000), ...over };
  if (exp !== null) payload.exp = exp;
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'swarmlet-join+jwt', kid: t.clusterId }).sign(await importJWK(jwk as JWK, 'EdDSA'));
}

async function mintCredential(t: TestApp, key: SigningKey, nodeId: string, generation: number, exp: number | undefined) {
  const payload: JWTPayload = { cid: t.clusterId, gen: generation, iss: 'swarmlet', aud: 'node', sub: nodeId, iat: Math.floor(Date.now() / 1000) };
  if (exp !== undefined) payload.exp = exp;
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'swarmlet-node+jwt', kid: t.clusterId }).sign(await importJWK(key.privateJwk as JWK, 'EdDSA'));
}

const joinWith = (t: TestApp, token: string, hostname: string) =>
  t.app.request('http://cp.test/agent/v1/join', {
    method: 'POST',
    body: JSON.stringify({ token, node: { hostname, nanoCpus: 1e9, memoryBytes: 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24', addr: '10.1.0.9' } }),
  });

describe('signing keys at rest', () => {
  let t: TestApp;
  let jti: string;
  beforeAll(async () => {
    t = await createTestApp();
    jti = decodeJwt(await workerToken(t)).jti!;
  });
  afterAll(() => t.close());

  it('the database file holds no private key: nothing in the row signs a token the cluster accepts', async () => {
    const real = await realKey(t);
    // The minting below works: with the real key (which only the KEK opens) the join succeeds.
    expect((await joinWith(t, await mintJoin(t, real.privateJwk, jti), 'control')).status).toBe(200);

    const stored = await rowFromFile(t);
    expect(stored.privateJwk).toBeUndefined();
    expect(sealedWith(stored.sealedPrivateJwk)).toBe(t.deps.keyRing.currentId);
    expect(fileBytes(t)).not.toContain(real.privateJwk.d);
    const ciphertext = stored.sealedPrivateJwk.split('.')[3];
    const candidates = [stored, stored.publicJwk, { ...stored.publicJwk, d: ciphertext }, { ...stored.publicJwk, d: ciphertext.slice(0, 43) }];
    for (const jwk of candidates) {
      let token: string;
      try {
        token = await mintJoin(t, jwk, jti);
      } catch {
        continue; // not even a private key
      }
      expect((await joinWith(t, token, 'thief')).status).toBe(401);
    }
    expect(await t.deps.database.db.query.nodes.findFirst({ where: eq(nodes.hostname, 'thief') })).toBeUndefined();
  });

  it('refuses a token signed by a key of ones own, naming this cluster', async () => {
    const mine = await createSigningKey();
    const res = await joinWith(t, await mintJoin(t, mine.privateJwk, jti), 'forger');
    expect(res.status).toBe(401);
    expect((await res.json()).message).toBe('invalid join token');
  });

  it('refuses a join token without exp, or beyond the policy maximum', async () => {
    const real = await realKey(t);
    for (const exp of [null, Math.floor(Date.now() / 1000) + 100 * 365 * 86400]) {
      const res = await joinWith(t, await mintJoin(t, real.privateJwk, jti, {}, exp), 'forever');
      expect({ exp, status: res.status, message: (await res.json()).message }).toEqual({ exp, status: 401, message: 'invalid join token' });
    }
    // Just inside the policy (366 days by default) is still a token.
    const withinPolicy = Math.floor((Date.now() + t.config.tokenMaxTtl.joinMs) / 1000) - 60;
    expect((await joinWith(t, await mintJoin(t, real.privateJwk, jti, {}, withinPolicy), 'year-long')).status).toBe(200);
  });

  it('refuses a node credential without exp, or beyond the policy maximum', async () => {
    const real = await realKey(t);
    const joined = await json(await joinWith(t, await workerToken(t), 'cred-host'));
    const node = (await t.deps.database.db.query.nodes.findFirst({ where: eq(nodes.id, joined.nodeId) }))!;
    const poll = (credential: string) => t.app.request('http://cp.test/agent/v1/assignments', { headers: { Authorization: `Bearer ${credential}` } });
    const hour = Math.floor(Date.now() / 1000) + 3600;
    expect((await poll(await mintCredential(t, real, node.id, node.credentialGeneration, hour))).status).toBe(200);
    expect((await poll(await mintCredential(t, real, node.id, node.credentialGeneration, undefined))).status).toBe(401);
    expect((await poll(await mintCredential(t, real, node.id, node.credentialGeneration, hour + 10 * 365 * 86400))).status).toBe(401);
  });

  it('a role claim cannot make a worker token join a manager: the stored token decides', async () => {
    const real = await realKey(t);
    const res = await joinWith(t, await mintJoin(t, real.privateJwk, jti, { role: 'manager' }), 'upgrader');
    expect(res.status).toBe(200);
    const node = await t.deps.database.db.query.nodes.findFirst({ where: eq(nodes.id, (await res.json()).nodeId) });
    expect(node!.role).toBe('worker');
    expect(node!.spec.Role).toBe('worker');
  });
});

describe('sealing keys written in plain text, and KEK rotation', () => {
  it('seals a plain-text row in place at start, keeping the key, and leaves no trace of it in the file', async () => {
    const t = await createTestApp();
    try {
      const token = await workerToken(t);
      // The row as code before sealing wrote it.
      const old = await createSigningKey();
      await t.deps.database.client.execute({ sql: 'UPDATE clusters SET signing_key = ? WHERE id = ?', args: [JSON.stringify(old), t.clusterId] });
      expect(fileBytes(t)).toContain(old.privateJwk.d);
      // Unsealed, it is not used.
      expect((await t.request('GET', '/v1.41/swarm')).status).toBe(500);

      expect(await sealSigningKeysAtRest(t.deps.database, t.deps.keyRing)).toEqual({ sealed: 1, resealed: 0, scrubbed: true });
      const stored = await rowFromFile(t);
      expect(stored.privateJwk).toBeUndefined();
      expect(stored.publicJwk).toEqual(old.publicJwk);
      expect((await realKey(t)).privateJwk).toEqual(old.privateJwk);
      expect(fileBytes(t)).not.toContain(old.privateJwk.d);
      // The same key signs: the join token derived from the stored row is the old key's.
      const after = await workerToken(t);
      expect(after).not.toBe(token);
      expect((await joinWith(t, after, 'after-sealing')).status).toBe(200);
      // A second start has nothing to do.
      expect(await sealSigningKeysAtRest(t.deps.database, t.deps.keyRing)).toEqual({ sealed: 0, resealed: 0, scrubbed: false });
    } finally {
      t.close();
    }
  });

  it('opens rows of the previous KEK once a new one is added, and re-seals them with the new one', async () => {
    const [kek1, kek2] = [newKek(), newKek()];
    const t = await createTestApp({ env: { KEK: kek1 } });
    try {
      const before = await workerToken(t);
      const first = await rowFromFile(t);
      expect(sealedWith(first.sealedPrivateJwk)).toBe((await keyRingFrom([kek1])).currentId);

      // The restart with KEK=new,old: old rows open at once, and start seals them again.
      const rotated = await keyRingFrom([kek2, kek1]);
      t.deps.keyRing = rotated;
      expect(await workerToken(t)).toBe(before);
      expect(await sealSigningKeysAtRest(t.deps.database, rotated)).toEqual({ sealed: 0, resealed: 1, scrubbed: false });
      expect(sealedWith((await rowFromFile(t)).sealedPrivateJwk)).toBe(rotated.currentId);

      // Now the old KEK can go: the new one alone opens every row, the old one alone none.
      t.deps.keyRing = await keyRingFrom([kek2]);
      expect(await workerToken(t)).toBe(before);
      expect((await joinWith(t, before, 'after-rotation')).status).toBe(200);
      t.deps.keyRing = await keyRingFrom([kek1]);
      const res = await t.request('GET', '/v1.41/swarm');
      expect(res.status).toBe(500);
    } finally {
      t.close();
    }
  });

  it('a sealed key copied to another cluster does not open there', async () => {
    const t = await createTestApp();
    try {
      const stored = (await rowFromFile(t)).sealedPrivateJwk;
      await expect(openSigningKey(t.deps.keyRing, { id: 'another-cluster', signingKey: { publicJwk: {}, sealedPrivateJwk: stored } })).rejects.toThrow(/does not open/);
    } finally {
      t.close();
    }
  });
});
