import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyRingFrom, newKek, sealedWith } from '../../control-plane/auth/envelope.ts';
import { resealDataKeysAtRest, secretOpener } from '../../control-plane/auth/data-keys.ts';
import { readFileSync } from 'node:fs';
import { createTestApp, type TestApp } from '../harness/app.ts';
import { expectDockerError, expectRefusedWithoutChange, json } from './helpers.ts';

/** /secrets and /configs in process: shapes (checked against the Engine API by t.request), updates, keys. */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const b64 = (text: string) => Buffer.from(text).toString('base64');
const enc = (f: Record<string, string[]>) => encodeURIComponent(JSON.stringify(f));

describe('secrets and configs through the API', () => {
  it('lists by name prefix, whole names, id prefix and label; inspects by ID prefix', async () => {
    const { Id: a } = await json(await t.request('POST', '/v1.41/secrets/create', { Name: 'db-pass', Labels: { tier: 'db' }, Data: b64('one') }), 201);
    await json(await t.request('POST', '/v1.41/secrets/create', { Name: 'db-pass-old', Data: b64('two') }), 201);
    const names = async (f: Record<string, string[]>) => (await json(await t.request('GET', `/v1.41/secrets?filters=${enc(f)}`))).map((s: any) => s.Spec.Name).sort();
    expect(await names({ name: ['db-'] })).toEqual(['db-pass', 'db-pass-old']);
    expect(await names({ names: ['db-pass'] })).toEqual(['db-pass']);
    expect(await names({ label: ['tier=db'] })).toEqual(['db-pass']);
    expect(await names({ id: [a.slice(0, 5)] })).toEqual(['db-pass']);
    await expectDockerError(await t.request('GET', `/v1.41/secrets?filters=${enc({ driver: ['x'] })}`), 400, /Invalid filter 'driver'/);
    const secret = await json(await t.request('GET', `/v1.41/secrets/${a.slice(0, 6)}`));
    expect(secret.Spec).toEqual({ Name: 'db-pass', Labels: { tier: 'db' } });
    // Configs are another namespace: the same name is free there, and its data is shown.
    const { Id: c } = await json(await t.request('POST', '/v1.41/configs/create', { Name: 'db-pass', Data: b64('not secret') }), 201);
    expect((await json(await t.request('GET', `/v1.41/configs/${c}`))).Spec).toEqual({ Name: 'db-pass', Labels: {}, Data: b64('not secret') });
    await expectDockerError(await t.request('GET', '/v1.41/configs/nope'), 404, /config nope not found/);
  });

  it('updates the labels only, at the version read, as swarmkit', async () => {
    const secret = await json(await t.request('GET', '/v1.41/secrets/db-pass'));
    const at = secret.Version.Index;
    await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/secrets/db-pass/update?version=${at}`, { Name: 'db-pass', Data: b64('new') }), 400, /^only updates to Labels are allowed$/);
    await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/secrets/db-pass/update?version=${at}`, { Name: 'renamed' }), 400, /^only updates to Labels are allowed$/);
    await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/secrets/db-pass/update?version=${at - 1}`, { Name: 'db-pass', Labels: {} }), 409, /update out of sequence/);
    expect((await t.request('POST', `/v1.41/secrets/db-pass/update?version=${at}`, { Name: 'db-pass', Labels: { tier: 'cache' } })).status).toBe(200);
    const after = await json(await t.request('GET', '/v1.41/secrets/db-pass'));
    expect(after.Spec.Labels).toEqual({ tier: 'cache' });
    expect(after.Version.Index).toBeGreaterThan(at);
  });

  it('takes the same value posted again with new labels (what a second `docker stack deploy` sends), for a secret and a config', async () => {
    for (const kind of ['secrets', 'configs']) {
      await json(await t.request('POST', `/v1.41/${kind}/create`, { Name: 'stack_same', Data: b64('kept') }), 201);
      const at = (await json(await t.request('GET', `/v1.41/${kind}/stack_same`))).Version.Index;
      await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/${kind}/stack_same/update?version=${at}`, { Name: 'stack_same', Data: b64('kepT') }), 400, /^only updates to Labels are allowed$/);
      await expectRefusedWithoutChange(t, () => t.request('POST', `/v1.41/${kind}/stack_same/update?version=${at}`, { Name: 'stack_same', Data: '' }), 400, /^only updates to Labels are allowed$/);
      const update = { Name: 'stack_same', Data: b64('kept'), Labels: { 'com.docker.stack.namespace': 'stack' } };
      expect((await t.request('POST', `/v1.41/${kind}/stack_same/update?version=${at}`, update)).status).toBe(200);
      expect((await json(await t.request('GET', `/v1.41/${kind}/stack_same`))).Spec.Labels).toEqual({ 'com.docker.stack.namespace': 'stack' });
      expect((await t.request('DELETE', `/v1.41/${kind}/stack_same`)).status).toBe(204);
    }
  });

  it('refuses what it cannot store, storing nothing', async () => {
    const create = (body: unknown) => () => t.request('POST', '/v1.41/secrets/create', body);
    await expectRefusedWithoutChange(t, create({ Name: 'e' }), 400, /^secret data must be larger than 0 and less than 512000 bytes$/);
    await expectRefusedWithoutChange(t, create({ Name: 'e', Data: '%%%' }), 400, /secret Data is not valid base64/);
    await expectRefusedWithoutChange(t, create({ Data: b64('x') }), 400, /^name must be provided$/);
    await expectRefusedWithoutChange(t, create({ Name: 'x'.repeat(65), Data: b64('x') }), 400, /invalid name, only 64/);
    await expectRefusedWithoutChange(t, create({ Name: 'v', Data: b64('x'), Driver: { Name: 'vault' } }), 400, /secret driver "vault" is not supported/);
    await expectRefusedWithoutChange(t, create({ Name: 'db-pass', Data: b64('x') }), 409, /^secret db-pass already exists$/);
    const config = () => t.request('POST', '/v1.41/configs/create', { Name: 'big', Data: Buffer.alloc(1000 * 1024 - 1).toString('base64') });
    // A config of nearly 1000 KB is within swarmkit's limit but not within the request body limit.
    await expectRefusedWithoutChange(t, config, 413, /request body too large/);
  });
});

describe("a cluster's data key", () => {
  it('is sealed again with a new KEK at rotation; the secrets stay as they are and open with the new KEK alone', async () => {
    const old = t.deps.keyRing;
    const rows = await t.deps.database.client.execute('select id, data from payloads where kind = ?', ['secret']);
    const before = rows.rows.map((r) => String(r.data));
    const dataKey = async () => String((await t.deps.database.client.execute('select sealed_data_key from clusters')).rows[0]!.sealed_data_key);
    expect(sealedWith(await dataKey())).toBe(old.currentId);
    const fresh = newKek();
    const rotated = await keyRingFrom([fresh, readFileSync(t.config.kek.file, 'utf8').trim()]);
    expect(await resealDataKeysAtRest(t.deps.database, rotated)).toBe(1);
    expect(await resealDataKeysAtRest(t.deps.database, rotated)).toBe(0);
    expect(sealedWith(await dataKey())).toBe(rotated.currentId);
    const after = await t.deps.database.client.execute('select id, data from payloads where kind = ?', ['secret']);
    expect(after.rows.map((r) => String(r.data))).toEqual(before);
    const open = await secretOpener(t.deps.database.db, await keyRingFrom([fresh]), t.clusterId);
    const values = await Promise.all(after.rows.map(async (r) => new TextDecoder().decode(await open(String(r.id), String(r.data)))));
    expect(values.sort()).toEqual(['one', 'two']);
    // The old KEK alone opens the data key no more.
    await expect(secretOpener(t.deps.database.db, old, t.clusterId)).rejects.toThrow(/not configured/);
    // An envelope moved to another secret's row does not open.
    await expect(open(String(after.rows[1]!.id), String(after.rows[0]!.data))).rejects.toThrow(/does not open/);
  });
});

describe("a service's secret and config references", () => {
  it('are refused as swarmkit refuses them, storing nothing', async () => {
    const { ID: s } = await json(await t.request('GET', '/v1.41/secrets/db-pass'));
    const create = (secrets: unknown[], configs: unknown[] = []) => () =>
      t.request('POST', '/v1.41/services/create', {
        Name: 'refs',
        TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1', Secrets: secrets, Configs: configs } },
        Mode: { Replicated: { Replicas: 1 } },
      });
    const file = (Name: string) => ({ Name, UID: '0', GID: '0', Mode: 0o444 });
    await expectRefusedWithoutChange(t, create([{ File: file('x'), SecretID: 'nosuchid', SecretName: 'gone' }]), 400, /^secret not found: gone$/);
    await expectRefusedWithoutChange(t, create([{ File: file('x'), SecretID: s, SecretName: 'not-its-name' }]), 400, /^secret not found: not-its-name$/);
    await expectRefusedWithoutChange(t, create([{ File: file('x'), SecretName: 'db-pass' }]), 400, /^malformed secret reference$/);
    await expectRefusedWithoutChange(t, create([{ SecretID: s, SecretName: 'db-pass' }]), 400, /^malformed secret reference, no target provided$/);
    await expectRefusedWithoutChange(t, create([{ File: file('../../etc/shadow'), SecretID: s, SecretName: 'db-pass' }]), 400, /invalid target file name/);
    await expectRefusedWithoutChange(
      t,
      create([
        { File: file('same'), SecretID: s, SecretName: 'db-pass' },
        { File: file('same'), SecretID: s, SecretName: 'db-pass' },
      ]),
      400,
      /^secret references 'db-pass' and 'db-pass' have a conflicting target: 'same'$/,
    );
    await expectRefusedWithoutChange(t, create([], [{ File: file('c'), ConfigID: 'x', ConfigName: 'nope' }]), 400, /^config not found: nope$/);
  });
});
