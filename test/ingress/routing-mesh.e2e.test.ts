/**
 * The routing mesh end to end: `docker service create -p PORT:80` through the real docker CLI,
 * the real swarm-agent publishing the port on its host, and the real engine's containers behind it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useAgentCluster } from '../harness/agent-cluster.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { freePort } from '../harness/net.ts';
import { countServers, fetchOnce } from './mesh-client.ts';

const cluster = useAgentCluster('mesh');
const service = `web-${cluster.run}`;

let port: number;
beforeAll(async () => {
  port = await freePort();
});

/** The serving container's hostname (the mesh balances connections: each request has its own). */
const whoServes = () => fetchOnce('127.0.0.1', port, { timeoutMs: 3_000 });
const spread = (n: number) => countServers('127.0.0.1', port, n, { timeoutMs: 3_000 });

async function runningHostnames(): Promise<string[]> {
  const list = await cluster.containers({ status: ['running'] });
  return list.map((c) => c.Id.slice(0, 12)).sort();
}

describe('routing mesh with the real agent', () => {
  it('serves -p PORT:80 from all 3 replicas, drops a scaled-away one, and closes the port on service rm', async () => {
    await cluster.createService(service, ['--replicas', '3', '-p', `${port}:80`, 'local/busybox:1', 'sh', '-c', 'echo $HOSTNAME > /www/x; httpd -f -p 80 -h /www']);
    const three = await eventually(async () => {
      const names = await runningHostnames();
      return names.length === 3 ? names : undefined;
    }, 30_000);
    // Once every task is running and known to the mesh, connections go round robin over the three.
    await eventually(async () => {
      const counts = await spread(9).catch(() => new Map<string, number>());
      return [...counts.keys()].sort().join() === three.join() && [...counts.values()].every((n) => n === 3);
    }, 30_000, 250);

    expect((await docker(['service', 'scale', '--detach', `${service}=2`], cluster.env)).code).toBe(0);
    const two = await eventually(async () => {
      const names = await runningHostnames();
      return names.length === 2 ? names : undefined;
    }, 30_000);
    const removed = three.find((h) => !two.includes(h))!;
    await eventually(async () => {
      const counts = await spread(8).catch(() => new Map<string, number>());
      return counts.get(two[0]!) === 4 && counts.get(two[1]!) === 4;
    }, 15_000, 250);
    const after = await spread(10);
    expect(after.get(removed)).toBeUndefined();

    expect((await docker(['service', 'rm', service], cluster.env)).code).toBe(0);
    await eventually(async () => (await whoServes().then(() => 'open', (e: Error) => e.message)).includes('ECONNREFUSED'), 15_000, 250);
  });
});
