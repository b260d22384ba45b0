import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder } from '../harness/files.ts';
import { type CliSession, startCliSession, table } from './cli-session.ts';

/**
 * `docker secret` and `docker config` through the real CLI, and where a secret's value must never
 * be: any answer the CLI printed, the control plane's output, any byte under its data directory.
 */
let s: CliSession;
const VALUE = `hunter2-${Math.random().toString(36).slice(2)}`;
const FILE_VALUE = `from-a-file-${Math.random().toString(36).slice(2)}`;
const answers: string[] = [];

async function run(...args: string[]) {
  const r = await s.cli(...args);
  answers.push(r.stdout, r.stderr);
  return r;
}
async function ok(...args: string[]) {
  const r = await run(...args);
  expect(r, `docker ${args.join(' ')}`).toMatchObject({ code: 0 });
  return r.stdout;
}

beforeAll(async () => {
  s = await startCliSession();
  await s.ok('swarm', 'init');
});
afterAll(() => s.cp.stop());

describe('docker secret', () => {
  it('create from stdin and from a file, ls, inspect without the value', async () => {
    const piped = await s.piped(VALUE, 'secret', 'create', '--label', 'team=a', 's', '-');
    answers.push(piped.stdout, piped.stderr);
    expect(piped.code).toBe(0);
    const id = piped.stdout.trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    const file = join(s.cp.dataDir, '..', `secret-${process.pid}.txt`);
    writeFileSync(file, FILE_VALUE);
    await ok('secret', 'create', 's2', file);

    const rows = table(await ok('secret', 'ls'));
    expect(rows[0]).toEqual(['ID', 'NAME', 'DRIVER', 'CREATED', 'UPDATED']);
    expect(rows.slice(1).map((r) => r[1]).sort()).toEqual(['s', 's2']);
    expect(table(await ok('secret', 'ls', '--filter', 'label=team=a')).slice(1).map((r) => r[1])).toEqual(['s']);
    expect(table(await ok('secret', 'ls', '--filter', 'name=s2')).slice(1).map((r) => r[1])).toEqual(['s2']);
    expect(table(await ok('secret', 'ls', '--filter', `id=${id.slice(0, 6)}`)).slice(1).map((r) => r[1])).toEqual(['s']);

    const [byName] = JSON.parse(await ok('secret', 'inspect', 's'));
    expect(byName).toMatchObject({ ID: id, Spec: { Name: 's', Labels: { team: 'a' } } });
    expect(byName.Spec).not.toHaveProperty('Data');
    const [byId] = JSON.parse(await ok('secret', 'inspect', id));
    expect(byId.Spec.Name).toBe('s');
  });

  it('refuses a duplicate name, a value of 500 KB and a bad name, storing nothing', async () => {
    const dup = await s.piped('x', 'secret', 'create', 's', '-');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('secret s already exists');
    const big = await s.piped('a'.repeat(500 * 1024), 'secret', 'create', 'big', '-');
    expect(big.code).toBe(1);
    expect(big.stderr).toContain('secret data must be larger than 0 and less than 512000 bytes');
    const badName = await s.piped('x', 'secret', 'create', 'bad.', '-');
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('invalid name, only 64 [a-zA-Z0-9-_.] characters allowed');
    expect(table(await ok('secret', 'ls', '--format', '{{.Name}}')).flat().sort()).toEqual(['s', 's2']);
    // One byte under the limit is a secret like any other.
    const justUnder = await s.piped('b'.repeat(500 * 1024 - 1), 'secret', 'create', 'just-under', '-');
    expect(justUnder.code).toBe(0);
    await ok('secret', 'rm', 'just-under');
  });

  it('a service using a secret keeps it from being removed; a missing one is refused', async () => {
    await ok('service', 'create', '--detach', '--name', 'web', '--secret', 's', '--secret', 'source=s2,target=other,mode=0400,uid=7', 'local/busybox:1', 'sleep', '100');
    const [svc] = JSON.parse(await ok('service', 'inspect', 'web'));
    // The CLI sends the references in no fixed order (it collects them in a map).
    const refs = [...svc.Spec.TaskTemplate.ContainerSpec.Secrets].sort((x, y) => x.SecretName.localeCompare(y.SecretName));
    expect(refs).toEqual([
      { File: { Name: 's', UID: '0', GID: '0', Mode: 0o444 }, SecretID: expect.any(String), SecretName: 's' },
      { File: { Name: 'other', UID: '7', GID: '0', Mode: 0o400 }, SecretID: expect.any(String), SecretName: 's2' },
    ]);
    const refused = await run('secret', 'rm', 's');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("secret 's' is in use by the following service: web");
    const missing = await run('service', 'create', '--detach', '--name', 'lost', '--secret', 'nope', 'local/busybox:1');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/secret not found: nope/);
    await ok('service', 'rm', 'web');
    expect((await ok('secret', 'rm', 's2')).trim()).toBe('s2');
    const gone = await run('secret', 'inspect', 's2');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/secret s2 not found/);
  });
});

describe('docker config', () => {
  it('create, inspect shows the data, --template-driver is refused, rm', async () => {
    const id = (await s.piped('listen 8080\n', 'config', 'create', '--label', 'app=web', 'c', '-')).stdout.trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    const [config] = JSON.parse(await ok('config', 'inspect', 'c'));
    expect(config).toMatchObject({ ID: id, Spec: { Name: 'c', Labels: { app: 'web' }, Data: Buffer.from('listen 8080\n').toString('base64') } });
    expect(await ok('config', 'inspect', '--pretty', 'c')).toContain('listen 8080');
    expect(table(await ok('config', 'ls', '--format', '{{.Name}}')).flat()).toEqual(['c']);
    const templated = await s.piped('{{ .Service.Name }}', 'config', 'create', '--template-driver', 'golang', 't', '-');
    expect(templated.code).toBe(1);
    expect(templated.stderr).toContain('templating driver "golang" is not supported');
    const dup = await s.piped('x', 'config', 'create', 'c', '-');
    expect(dup.stderr).toContain('config c already exists');
    expect((await ok('config', 'rm', 'c')).trim()).toBe('c');
  });
});

describe("a secret's value", () => {
  it('is in no answer, no log line and no byte of the data directory', async () => {
    const printed = answers.join('\n');
    expect(printed.length).toBeGreaterThan(1000);
    for (const value of [VALUE, FILE_VALUE]) {
      const base64 = Buffer.from(value).toString('base64');
      expect(printed).not.toContain(value);
      expect(printed).not.toContain(base64);
      expect(s.cp.output()).not.toContain(value);
      expect(s.cp.output()).not.toContain(base64);
      const files = filesUnder(s.cp.dataDir);
      // The database and its WAL are among them, and hold the sealed envelope the secret is.
      expect(files.map((f) => f.path).some((p) => p.endsWith('-wal'))).toBe(true);
      expect(files.some((f) => f.bytes.toString('latin1').includes('swe1.kek-'))).toBe(true);
      expect(files.filter((f) => f.bytes.includes(value) || f.bytes.includes(base64)).map((f) => f.path)).toEqual([]);
    }
  });
});
