/** The CLI's promises when something is wrong at join: a clear message and a non-zero exit. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../harness/control-plane-process.ts';
import { pemDigest } from '../../agent/ca-pin.ts';
import { ENGINE, fakeJoinToken, runAgentToExit } from './agent-process.ts';
import { freePort } from '../harness/net.ts';

const dirs: string[] = [];
function stateDir() {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-agent-cli-'));
  dirs.push(dir);
  return dir;
}

const runToExit = runAgentToExit;

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('swarm-agent CLI', () => {
  it('exits 1 naming the address when the control plane cannot be reached', async () => {
    const port = await freePort();
    const token = fakeJoinToken({ url: `http://127.0.0.1:${port}`, cid: 'c', role: 'worker', jti: 'j' });
    const { exit, output } = await runToExit(['join', token, '--state-dir', stateDir(), '--docker-host', ENGINE]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(output).toContain(`cannot reach the control plane at http://127.0.0.1:${port}`);
  });

  it('exits 1 when the Docker engine cannot be reached', async () => {
    const token = fakeJoinToken({ url: 'http://127.0.0.1:9', cid: 'c', role: 'worker', jti: 'j' });
    const { exit, output } = await runToExit(['join', token, '--state-dir', stateDir(), '--docker-host', 'unix:///nonexistent/docker.sock']);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(output).toContain('cannot reach the Docker engine at unix:///nonexistent/docker.sock');
  });

  it('`join --token T host:port` goes to host:port, where a forged token is refused', async () => {
    const cp = await startControlPlane();
    try {
      const port = await freePort();
      const token = fakeJoinToken({ url: `https://127.0.0.1:${port}`, ca: pemDigest(cp.caPem!), cid: 'nope', role: 'worker', jti: 'j' });
      const { exit, output } = await runToExit(['join', '--token', token, `127.0.0.1:${cp.port}`, '--state-dir', stateDir(), '--docker-host', ENGINE]);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(output).toMatch(/the control plane refused to join: invalid join token/);
    } finally {
      await cp.stop();
    }
  });

  it('with DOCKER_HOST exported for the CLI: the agent uses this host\'s engine; told the control plane is its engine, it says what that is', async () => {
    const cp = await startControlPlane();
    try {
      const token = fakeJoinToken({ url: cp.url, ca: pemDigest(cp.caPem!), cid: 'nope', role: 'worker', jti: 'j' });
      // The README's shell: DOCKER_HOST, DOCKER_CONFIG, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH exported for the CLI.
      const env = cp.dockerEnv;
      // The flag's engine answers, so the join gets as far as the control plane (which refuses the forged token).
      const withFlag = await runToExit(['join', token, '--state-dir', stateDir(), '--docker-host', ENGINE], env);
      expect(withFlag.output).toMatch(/the control plane refused to join: invalid join token/);
      // Without the flag, as the README's one-shell flow runs it: DOCKER_HOST is the CLI's, the engine the default.
      const withoutFlag = await runToExit(['join', token, '--state-dir', stateDir()], env);
      expect(withoutFlag.output).toContain('DOCKER_HOST names the swarmlet control plane');
      expect(withoutFlag.output).toMatch(/the control plane refused to join: invalid join token/);
      // Named as the engine on purpose: refused, with the fix.
      const misdirected = await runToExit(['join', token, '--state-dir', stateDir(), '--docker-host', cp.dockerEnv.DOCKER_HOST], env);
      expect(misdirected.exit).toEqual({ code: 1, signal: null });
      expect(misdirected.output).toContain(`${cp.dockerEnv.DOCKER_HOST} is a swarmlet control plane, not a Docker engine`);
      expect(misdirected.output).toContain('--docker-host unix:///var/run/docker.sock');
    } finally {
      await cp.stop();
    }
  });

  it('`run` without saved state says to join first', async () => {
    const dir = stateDir();
    const { exit, output } = await runToExit(['run', '--state-dir', dir, '--docker-host', ENGINE]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(output).toContain(`no saved node state in ${dir}; join first`);
  });

  it('rejects a token that is not a join token with usage help (exit 2)', async () => {
    const { exit, output } = await runToExit(['join', 'not-a-token', '--state-dir', stateDir()]);
    expect(exit).toEqual({ code: 2, signal: null });
    expect(output).toMatch(/invalid join token[\s\S]*Usage:/);
  });

  // bin/swarm-agent.js runs the compiled CLI: test/packaging/ runs it, installed from the packed tarball.
});
