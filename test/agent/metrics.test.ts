import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig, UsageError } from '../../agent/config.ts';
import { AgentMetrics, parseListenAddr } from '../../agent/metrics.ts';

describe('agent metrics', () => {
  it('is off unless --metrics-addr (or SWARM_AGENT_METRICS_ADDR) names host:port', () => {
    expect(loadAgentConfig({}, {}).metricsAddr).toBeUndefined();
    expect(loadAgentConfig({ 'metrics-addr': '127.0.0.1:9323' }, {}).metricsAddr).toEqual({ host: '127.0.0.1', port: 9323 });
    expect(loadAgentConfig({}, { SWARM_AGENT_METRICS_ADDR: '[::1]:9323' }).metricsAddr).toEqual({ host: '::1', port: 9323 });
    expect(() => loadAgentConfig({ 'metrics-addr': '9323' }, {})).toThrow(UsageError);
    expect(parseListenAddr('127.0.0.1:70000')).toBeUndefined();
  });

  it('counts the real engine\'s failed requests by status, and reads containers and peers at scrape time', async () => {
    const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
    const metrics = new AgentMetrics();
    metrics.watchEngine(docker);
    await expect(docker.getContainer('no-such-container-for-metrics').inspect()).rejects.toThrow();
    const text = await metrics.render({ docker, nodeId: 'no-such-node', peerHandshakes: async () => [{ publicKey: 'k1', at: Math.floor(Date.now() / 1000) - 30 }, { publicKey: 'k2', at: 0 }] });
    expect(text).toContain('swarm_agent_engine_errors_total{status="404"} 1');
    expect(text).toContain('swarm_agent_mesh_peers 2');
    expect(text).toMatch(/^swarm_agent_mesh_peer_handshake_age_seconds\{peer="k1"\} (29|3\d)(\.\d+)?$/m);
    expect(text).toContain('swarm_agent_mesh_peer_handshake_age_seconds{peer="k2"} +Inf');
    // No task containers of that node: the family is left out rather than shown empty.
    expect(text).not.toContain('swarm_agent_containers');
  });
});
