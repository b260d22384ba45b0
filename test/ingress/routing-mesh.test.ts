import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngressProxy, type IngressList } from '../../agent/ingress.ts';
import { NODE_LABEL, TASK_LABEL } from '../../agent/executor/labels.ts';
import type { Logger } from '../../protocol/log.ts';
import { freePort } from '../harness/net.ts';
import { countServers, fetchOnce } from './mesh-client.ts';

/**
 * The routing mesh against the real Docker engine: task containers started directly (labelled as
 * the agent's executor labels them), fed to IngressProxy as the control plane's ingress list.
 */
const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
const RUN = randomUUID().slice(0, 8);
const LABELS = { 'swarmlet.test': 'ingress', 'swarmlet.test.run': RUN };
const HTTPD = ['sh', '-c', 'echo $HOSTNAME > /www/x; httpd -f -p 80 -h /www'];

interface Task {
  taskId: string;
  hostname: string;
}

async function startTask(cmd: string[]): Promise<Task> {
  const taskId = `t${RUN}${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const c = await docker.createContainer({
    Image: 'local/busybox:1',
    Cmd: cmd,
    // As the agent's executor labels a task container of node-a.
    Labels: { ...LABELS, [TASK_LABEL]: taskId, [NODE_LABEL]: 'node-a' },
    HostConfig: { Init: true },
  });
  await c.start();
  return { taskId, hostname: c.id.slice(0, 12) };
}

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (msg: string, fields?: Record<string, unknown>) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, info: push('info'), warn: push('warn'), error: push('error'), debug: push('debug') };
}

async function waitForHttp(host: string, port: number, expect: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetchOnce(host, port)) === expect) return;
    } catch {
      // httpd not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${host}:${port} did not serve ${expect} within 10 s`);
}

let web: Task[] = [];
let silent: Task;
let containerIps = new Map<string, string>();

beforeAll(async () => {
  web = await Promise.all([startTask(HTTPD), startTask(HTTPD), startTask(HTTPD)]);
  // Runs but listens on nothing: connections to it are refused.
  silent = await startTask(['sleep', '300']);
  for (const c of await docker.listContainers({ filters: { label: [`swarmlet.test.run=${RUN}`] } })) {
    containerIps.set(c.Labels[TASK_LABEL]!, Object.values(c.NetworkSettings.Networks)[0]!.IPAddress);
  }
  for (const t of web) await waitForHttp(containerIps.get(t.taskId)!, 80, t.hostname);
}, 60_000);

afterAll(async () => {
  const mine = await docker.listContainers({ all: true, filters: { label: [`swarmlet.test.run=${RUN}`] } });
  await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});

/** The tasks as the control plane lists them: with an ingress address (here the container's), or none. */
const ingressFor = (port: number, tasks: Task[], nodeId: string, opts: { addressed: boolean } = { addressed: true }): IngressList => [
  {
    serviceId: 'svc-web',
    ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: port, PublishMode: 'ingress' }],
    backends: tasks.map((t) => ({ taskId: t.taskId, nodeId, ...(opts.addressed ? { address: containerIps.get(t.taskId)! } : {}) })),
  },
];

describe('IngressProxy on the real engine', () => {
  it('spreads connections over all three local task containers (found by label when they have no ingress address), and a removed task gets none', async () => {
    const port = await freePort();
    const log = memoryLogger();
    const proxy = new IngressProxy({ docker, nodeId: 'node-a', log });
    try {
      await proxy.update(ingressFor(port, web, 'node-a', { addressed: false }));
      expect(proxy.ports).toEqual([`${port}/tcp`]);

      const spread = await countServers('127.0.0.1', port, 9);
      expect(Object.fromEntries(spread)).toEqual(Object.fromEntries(web.map((t) => [t.hostname, 3])));

      // The second task stops: the next update no longer lists it.
      await proxy.update(ingressFor(port, [web[0]!, web[2]!], 'node-a', { addressed: false }));
      const after = await countServers('127.0.0.1', port, 8);
      expect(after.get(web[1]!.hostname)).toBeUndefined();
      expect(Object.fromEntries(after)).toEqual({ [web[0]!.hostname]: 4, [web[2]!.hostname]: 4 });
    } finally {
      await proxy.close();
    }
  });

  it('tries the next backend when one refuses the connection', async () => {
    const port = await freePort();
    const proxy = new IngressProxy({ docker, nodeId: 'node-a', log: memoryLogger() });
    try {
      await proxy.update(ingressFor(port, [web[0]!, silent, web[1]!, web[2]!], 'node-a'));
      const counts = await countServers('127.0.0.1', port, 12);
      expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(12);
      expect(new Set(counts.keys())).toEqual(new Set(web.map((t) => t.hostname)));
    } finally {
      await proxy.close();
    }
  });

  it('connects straight to the tasks of another node at their ingress addresses, with no hop through that node', async () => {
    const port = await freePort();
    // The tasks run on node-a, whose routing mesh does not run: node-b alone serves the port.
    const nodeB = new IngressProxy({ docker, nodeId: 'node-b', log: memoryLogger(), bindHost: '127.0.0.3' });
    try {
      await nodeB.update(ingressFor(port, web, 'node-a'));
      const counts = await countServers('127.0.0.3', port, 6);
      expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(web.map((t) => [t.hostname, 2])));
    } finally {
      await nodeB.close();
    }
  });

  it('opens and closes listeners as services come and go, and says so when a port is taken', async () => {
    const port = await freePort();
    const log = memoryLogger();
    const proxy = new IngressProxy({ docker, nodeId: 'node-a', log });
    const squatter = createServer().listen(port, '0.0.0.0');
    await new Promise((r) => squatter.once('listening', r));
    try {
      // Answered as not open: the agent's retry timer tries it again with the same list.
      expect(await proxy.update(ingressFor(port, web, 'node-a'))).toEqual([`port ${port}/tcp`]);
      expect(proxy.ports).toEqual([]);
      expect(log.lines.filter((l) => l.startsWith('error'))).toEqual([
        expect.stringContaining(`cannot publish port ${port}/tcp of service svc-web on this node: port ${port} is already in use on this host`),
      ]);
      // The next update retries without logging the same failure again.
      await proxy.update(ingressFor(port, web, 'node-a'));
      expect(log.lines.filter((l) => l.startsWith('error'))).toHaveLength(1);

      await new Promise((r) => squatter.close(r));
      expect(await proxy.update(ingressFor(port, web, 'node-a'))).toEqual([]);
      expect(proxy.ports).toEqual([`${port}/tcp`]);
      expect(web.map((t) => t.hostname)).toContain(await fetchOnce('127.0.0.1', port));

      // The service is removed: the port closes.
      await proxy.update([]);
      expect(proxy.ports).toEqual([]);
      await expect(fetchOnce('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      squatter.close();
      await proxy.close();
    }
  });
});
