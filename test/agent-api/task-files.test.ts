import { describe, expect, it } from 'vitest';
import { joinInProcess, serviceSpec, useLeaderApp } from '../harness/app.ts';
import { eventually } from '../harness/docker-cli.ts';

/**
 * A node's assignments carry the secrets and configs of its own tasks still to run, and only
 * those: a node without such a task, a secret no task refers to and a task being stopped get none.
 */
const app = useLeaderApp();
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('secret and config values in assignments', () => {
  it('go to the node whose task needs them, only while it does', async () => {
    const t = app();
    const a = await joinInProcess(t, { hostname: 'host-a' });
    const b = await joinInProcess(t, { hostname: 'host-b' });
    const create = async (kind: string, Name: string, value: string) => (await (await t.request('POST', `/v1.41/${kind}s/create`, { Name, Data: b64(value) })).json()).Id;
    const s = await create('secret', 's', 'value-of-s');
    await create('secret', 'unused', 'value-of-unused');
    const c = await create('config', 'c', 'listen 80');
    const withFiles = (secrets: unknown[]) =>
      serviceSpec('api', 1, {
        TaskTemplate: {
          ContainerSpec: {
            Image: 'local/busybox:1',
            Secrets: secrets,
            Configs: [{ File: { Name: 'c', UID: '0', GID: '0', Mode: 0o444 }, ConfigID: c, ConfigName: 'c' }],
          },
          Placement: { Constraints: ['node.hostname==host-a'] },
        },
      });
    expect((await t.request('POST', '/v1.41/services/create', withFiles([{ File: { Name: 's', UID: '5', GID: '6', Mode: 0o400 }, SecretID: s, SecretName: 's' }]))).status).toBe(201);
    const assignments = async (node: typeof a) => (await node.agentRequest('GET', '/assignments?index=0')).json();
    const first = await eventually(async () => (await assignments(a)).tasks.find((x: any) => x.desiredState === 'running'), 10_000);
    expect(first.files).toEqual([
      { target: '/run/secrets/s', uid: '5', gid: '6', mode: 0o400, data: b64('value-of-s') },
      { target: '/c', uid: '0', gid: '0', mode: 0o444, data: b64('listen 80') },
    ]);
    const other = JSON.stringify(await assignments(b));
    expect(other).not.toContain(b64('value-of-s'));
    expect(other).not.toContain(b64('listen 80'));
    expect(JSON.stringify(await assignments(a))).not.toContain(b64('value-of-unused'));

    // The secret dropped: the old task, being stopped, carries nothing; its replacement only the config.
    const service = await (await t.request('GET', '/v1.41/services/api')).json();
    expect((await t.request('POST', `/v1.41/services/api/update?version=${service.Version.Index}`, withFiles([]))).status).toBe(200);
    const stopping = await eventually(async () => (await assignments(a)).tasks.find((x: any) => x.taskId === first.taskId && x.desiredState === 'shutdown'), 10_000);
    expect(stopping.files).toBeUndefined();
    // Stop-first: the replacement comes once the old task reports it stopped.
    expect(await a.report(first.taskId, 'shutdown')).toMatchObject({ ok: true });
    const answer = await eventually(async () => {
      const now = await assignments(a);
      return now.tasks.some((x: any) => x.taskId !== first.taskId && x.desiredState === 'running') ? now : undefined;
    }, 10_000);
    expect(answer.tasks.find((x: any) => x.taskId !== first.taskId).files).toEqual([{ target: '/c', uid: '0', gid: '0', mode: 0o444, data: b64('listen 80') }]);
    expect(JSON.stringify(answer)).not.toContain(b64('value-of-s'));
  });
});
