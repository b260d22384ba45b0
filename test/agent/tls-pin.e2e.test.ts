/**
 * The agent pins the cluster CA named in its join token: it joins over TLS and runs a task, and it
 * refuses a control plane whose certificate is not under that CA, or an https token with no pin.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pemDigest } from '../../agent/ca-pin.ts';
import { useAgentCluster } from '../harness/agent-cluster.ts';
import { startControlPlane } from '../harness/control-plane-process.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { ENGINE, fakeJoinToken, runAgentToExit } from './agent-process.ts';

const cluster = useAgentCluster('tls-pin');
const dirs: string[] = [];

function stateDir() {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-agent-tls-'));
  dirs.push(dir);
  return dir;
}

const joinToExit = (args: string[]) => runAgentToExit(['join', ...args, '--state-dir', stateDir(), '--docker-host', ENGINE, '--advertise-addr', '127.0.0.1']);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('agent and the pinned cluster CA', () => {
  it('joins over https with the token\'s digest, keeps that CA, and runs a task', async () => {
    const token = (await docker(['swarm', 'join-token', '-q', 'worker'], cluster.env)).stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(claims.ca).toBe(pemDigest(cluster.cp.caPem!));
    expect(pemDigest(readFileSync(join(cluster.stateDir, 'ca.pem'), 'utf8'))).toBe(claims.ca);
    await cluster.createService(`tls-${cluster.run}`, ['--replicas', '1', 'local/busybox:1', 'sleep', '300']);
    const running = await eventually(async () => {
      const list = await cluster.containers();
      return list.length === 1 && list[0]!.State === 'running' ? list : undefined;
    }, 60_000);
    expect(running).toHaveLength(1);
  });

  it('refuses a control plane whose certificate is not under the pinned CA, and sends it nothing', async () => {
    const other = await startControlPlane();
    try {
      const token = (await docker(['swarm', 'join-token', '-q', 'worker'], cluster.env)).stdout.trim();
      const { exit, output } = await joinToExit(['--token', token, `127.0.0.1:${other.port}`]);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(output).toContain(`holds no CA with the pinned digest ${pemDigest(cluster.cp.caPem!)}`);
      expect(output).toContain(pemDigest(other.caPem!));
      expect(other.output()).not.toMatch(/joined|POST \/agent/);
    } finally {
      await other.stop();
    }
  });

  it('refuses an https token that pins no CA', async () => {
    const token = fakeJoinToken({ url: cluster.cp.url, cid: 'c', role: 'worker', jti: 'j' });
    const { exit, output } = await joinToExit([token]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(output).toContain('pins no CA to verify it by');
  });
});
