import { rmSync } from 'node:fs';
import type { NodeInfo } from '../../protocol/agent-api.ts';
import { type ControlPlaneProcess, startControlPlane } from './control-plane-process.ts';
import { eventually } from './docker-cli.ts';
import { nodeInfo, SimAgent, type SimAgentOptions } from './sim-agent.ts';
import { SwarmClient } from './swarm-client.ts';

/** A started control plane process, its initialised swarm, and the simulated agents joined to it. */
export interface SimCluster {
  cp: ControlPlaneProcess;
  api: SwarmClient;
  token: string;
  agents: SimAgent[];
  /**
   * Joins one more simulated agent with the worker token. Its `labels` are set as the operator
   * would (`docker node update --label-add`), for `node.labels` constraints: a node's own are
   * engine labels only.
   */
  addAgent(info?: Partial<NodeInfo>, opts?: SimAgentOptions): Promise<SimAgent>;
  close(): Promise<void>;
}

export async function startSimCluster(env: Record<string, string> = {}): Promise<SimCluster> {
  const cp = await startControlPlane({ env: { INSTANCE_ID: 'cp-test', ...env } });
  const api = SwarmClient.forProcess(cp);
  await api.init();
  const token = await api.workerToken();
  const agents: SimAgent[] = [];
  return {
    cp,
    api,
    token,
    agents,
    async addAgent({ labels, ...info } = {}, opts = {}) {
      const agent = await SimAgent.start(cp.url, token, nodeInfo(info), opts);
      agents.push(agent);
      if (labels) await api.updateNode(agent.nodeId, (spec) => (spec.Labels = { ...spec.Labels, ...labels }));
      return agent;
    },
    async close() {
      await Promise.all(agents.map((a) => a.stop()));
      await cp.stop();
      rmSync(cp.dataDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the service's live tasks satisfy `check`, and returns them. */
export function tasksWhere(api: SwarmClient, serviceId: string, check: (tasks: any[]) => boolean, timeoutMs = 15_000): Promise<any[]> {
  return eventually(async () => {
    const live = await api.liveTasks(serviceId);
    return check(live) ? live : undefined;
  }, timeoutMs, 100);
}

/** Live tasks per node ID. */
export function perNode(tasks: any[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of tasks) if (t.NodeID) counts.set(t.NodeID, (counts.get(t.NodeID) ?? 0) + 1);
  return counts;
}
