/** Node credentials: renewed before they expire; an agent that was off past expiry rejoins as itself. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlane } from '../harness/control-plane-process.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { type AgentProcess, ENGINE, spawnAgent } from './agent-process.ts';

const RUN = Math.random().toString(36).slice(2, 8);
const dir = mkdtempSync(join(tmpdir(), 'swarm-agent-cred-'));
const hostname = `cred-${RUN}`;
let cp: ControlPlaneProcess;
let env: Record<string, string>;
let agent: AgentProcess | undefined;

const args = ['--state-dir', dir, '--hostname', hostname, '--docker-host', ENGINE];
const saved = () => JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as { nodeId: string; credential: string; credentialExpiresAt: number };

beforeAll(async () => {
  cp = await startControlPlane({ env: { NODE_CREDENTIAL_TTL_MS: '3000' } });
  env = cp.dockerEnv;
  expect((await docker(['swarm', 'init'], env)).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

it('renews its credential at half its life and keeps working past the first expiry', async () => {
  const token = (await docker(['swarm', 'join-token', '-q', 'worker'], env)).stdout.trim();
  agent = spawnAgent(['join', token, ...args]);
  await agent.waitForOutput(/INFO agent running/);
  const first = saved();
  await agent.waitForOutput(/INFO renewed node credential[\s\S]*INFO renewed node credential/, 10_000);
  const later = saved();
  expect(later.nodeId).toBe(first.nodeId);
  expect(later.credential).not.toBe(first.credential);
  expect(later.credentialExpiresAt).toBeGreaterThan(first.credentialExpiresAt);
  await eventually(async () => (await docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], env)).stdout.includes(`${hostname} Ready`));
  expect(agent.output()).not.toMatch(/WARN|ERROR/);
});

it('`run` after the credential expired rejoins with the saved token as the same node', async () => {
  const { nodeId } = saved();
  await agent!.stop();
  await new Promise((r) => setTimeout(r, 3_500));
  expect(saved().credentialExpiresAt).toBeLessThan(Date.now());
  agent = spawnAgent(['run', ...args]);
  await agent.waitForOutput(/INFO rejoined cluster .*node=\w+/);
  await agent.waitForOutput(/INFO agent running/);
  expect(saved().nodeId).toBe(nodeId);
  const nodes = (await docker(['node', 'ls', '--format', '{{.ID}} {{.Hostname}}'], env)).stdout;
  expect(nodes.split('\n').filter((l) => l.includes(hostname))).toEqual([`${nodeId} ${hostname}`]);
});
