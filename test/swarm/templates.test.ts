import { describe, expect, it } from 'vitest';
import { expandTaskSpec, type TemplateContext } from '../../control-plane/swarm/templates.ts';
import { eventually } from '../harness/docker-cli.ts';
import { joinInProcess, serviceSpec, useLeaderApp } from '../harness/app.ts';
import { expectRefusedWithoutChange, json } from '../docker-api/helpers.ts';

const ctx: TemplateContext = {
  Service: { ID: 'svc1', Name: 'web', Labels: { tier: 'front', 'com.example.team': 'a' } },
  Node: { ID: 'node1', Hostname: 'host-a', Platform: { OS: 'linux', Architecture: 'x86_64' } },
  Task: { ID: 'task1', Name: 'web.2.task1', Slot: '2' },
};

describe('expandTaskSpec', () => {
  it('fills hostname, env values and mount source and target, as dockerd\'s worker does', () => {
    const spec = {
      ContainerSpec: {
        Image: 'busybox',
        Hostname: '{{.Node.Hostname}}-{{.Task.Slot}}',
        Env: ['SERVICE={{.Service.Name}}', 'TASK={{ .Task.Name }}', 'TEAM={{index .Service.Labels "com.example.team"}}', 'TIER={{.Service.Labels.tier}}', 'NONE={{.Service.Labels.nope}}', 'PLAIN=x'],
        Mounts: [{ Type: 'volume' as const, Source: 'data-{{.Task.Slot}}', Target: '/data/{{.Node.Platform.Architecture}}' }],
        Args: ['{{.Node.ID}}'],
      },
    };
    expect(expandTaskSpec(spec, ctx).ContainerSpec).toEqual({
      Image: 'busybox',
      Hostname: 'host-a-2',
      Env: ['SERVICE=web', 'TASK=web.2.task1', 'TEAM=a', 'TIER=front', 'NONE=<no value>', 'PLAIN=x'],
      Mounts: [{ Type: 'volume', Source: 'data-2', Target: '/data/x86_64' }],
      // Docker expands neither the command nor its arguments.
      Args: ['{{.Node.ID}}'],
    });
  });

  it('refuses actions it cannot fill, naming the field', () => {
    expect(() => expandTaskSpec({ ContainerSpec: { Hostname: '{{.Node.Name}}' } })).toThrow(/^ContainerSpec\.Hostname: template action \{\{\.Node\.Name\}\} is not supported/);
    expect(() => expandTaskSpec({ ContainerSpec: { Env: ['A={{printf "%d" 1}}'] } })).toThrow(/ContainerSpec\.Env: template action/);
  });
});

describe('templates through the API and the agent protocol', () => {
  const app = useLeaderApp();

  it('a node gets its task with the templates filled; docker inspect shows them as written', async () => {
    const t = app();
    const node = await joinInProcess(t, { hostname: 'tmpl-host', os: 'linux', arch: 'aarch64' });
    await json(
      await t.request('POST', '/v1.41/services/create', {
        ...serviceSpec('tmpl', 1),
        Labels: { tier: 'front' },
        TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1', Hostname: '{{.Node.Hostname}}-{{.Task.Slot}}', Env: ['WHO={{.Service.Name}}/{{.Service.Labels.tier}}/{{.Node.Platform.Architecture}}'] } },
      }),
      201,
    );
    const assignment = await eventually(async () => {
      const res = await json(await node.agentRequest('GET', '/assignments?index=0'));
      return res.tasks[0];
    }, 10_000);
    expect(assignment.spec.ContainerSpec).toMatchObject({ Hostname: 'tmpl-host-1', Env: ['WHO=tmpl/front/aarch64'] });
    const task = await json(await t.request('GET', `/v1.41/tasks/${assignment.taskId}`));
    expect(task.Spec.ContainerSpec.Hostname).toBe('{{.Node.Hostname}}-{{.Task.Slot}}');
  });

  it('a template that cannot be filled is refused at create, and nothing is written', async () => {
    const t = app();
    await expectRefusedWithoutChange(
      t,
      () => t.request('POST', '/v1.41/services/create', { ...serviceSpec('badtmpl', 1), TaskTemplate: { ContainerSpec: { Image: 'local/busybox:1', Hostname: '{{.Cluster.Name}}' } } }),
      400,
      /^ContainerSpec\.Hostname: template action \{\{\.Cluster\.Name\}\} is not supported/,
    );
  });
});
