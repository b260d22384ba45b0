/** The agent's pure parts: the one-step task function, the container request, keys, tokens, logs. */
import { describe, expect, it } from 'vitest';
import type { Assignment } from '../../protocol/agent-api.ts';
import { createLogger } from '../../protocol/log.ts';
import { containerCreateOptions, stopGraceMs } from '../../agent/executor/container-spec.ts';
import { type ContainerObservation, FatalTaskError, type TaskController } from '../../agent/executor/controller.ts';
import { stepTask, type TaskView } from '../../agent/executor/step.ts';
import { TaskRunner } from '../../agent/executor/task-runner.ts';
import { DrainWatch } from '../../agent/executor/drain-watch.ts';
import { controlPlaneUrl, decodeJoinToken } from '../../agent/join-token.ts';
import { generateWireguardKeys, wireguardPublicKey } from '../../agent/state.ts';
import { ControlPlaneError } from '../../agent/client.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { hostUpstreams } from '../../agent/dns/upstream.ts';
import { fakeJoinToken } from './agent-process.ts';

function assignment(over: Partial<Assignment> = {}, containerSpec: Record<string, unknown> = {}): Assignment {
  return {
    taskId: 't1',
    serviceId: 's1',
    serviceName: 'web',
    slot: 2,
    desiredState: 'running',
    state: 'assigned',
    spec: { ContainerSpec: { Image: 'local/busybox:1', Args: ['sleep', '1'], Init: false, ...containerSpec }, Resources: { Limits: { NanoCPUs: 5e8, MemoryBytes: 64 << 20 } } },
    ports: [],
    networks: [],
    ...over,
  };
}

/** A controller whose container is a plain object the test sets, recording each call. */
class FakeController implements TaskController {
  calls: string[] = [];
  container: ContainerObservation | undefined;
  failWith: Error | undefined;
  private call(name: string) {
    this.calls.push(name);
    if (this.failWith) throw this.failWith;
  }
  async inspect() {
    return this.container;
  }
  async prepare() {
    this.call('prepare');
    this.container ??= { id: 'c1', status: 'created', running: false, pid: 0, exitCode: 0, error: '', oomKilled: false, health: 'none', ports: [] };
  }
  async start() {
    this.call('start');
    this.container = { ...this.container!, status: 'running', running: true, pid: 42 };
  }
  async stop() {
    this.call('stop');
    this.container = { ...this.container!, status: 'exited', running: false, exitCode: 143 };
  }
  async remove() {
    this.call('remove');
    this.container = undefined;
  }
}

/** Steps until idle, collecting the states reported on the way. */
async function converge(view: TaskView, ctlr: TaskController) {
  const states: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await stepTask(view, ctlr);
    if (r === 'idle') break;
    if (r === 'progress') continue;
    view.status = r.status;
    states.push(r.status.state);
  }
  return states;
}

const view = (state: TaskView['status']['state'], desiredState: TaskView['desiredState'] = 'running'): TaskView => ({ desiredState, status: { state, message: '' }, graceMs: 1000 });

describe('stepTask', () => {
  it('walks a new task through accepted, preparing, starting to running', async () => {
    const ctlr = new FakeController();
    expect(await converge(view('assigned'), ctlr)).toEqual(['accepted', 'preparing', 'starting', 'running']);
    expect(ctlr.calls).toEqual(['prepare', 'start']);
  });

  it('adopts a running container without starting it again', async () => {
    const ctlr = new FakeController();
    await ctlr.prepare();
    await ctlr.start();
    ctlr.calls = [];
    expect(await converge(view('running'), ctlr)).toEqual([]);
    expect(await converge(view('preparing'), ctlr)).toEqual(['starting', 'running']);
    expect(ctlr.calls).toEqual(['prepare']);
  });

  it('stays starting until healthy; unhealthy fails the task and stops the container', async () => {
    const ctlr = new FakeController();
    const v = view('assigned');
    await converge(v, ctlr);
    ctlr.container = { ...ctlr.container!, health: 'starting' };
    const v2 = view('starting');
    expect(await converge(v2, ctlr)).toEqual([]);
    ctlr.container = { ...ctlr.container!, health: 'unhealthy' };
    expect(await converge(v2, ctlr)).toEqual(['failed']);
    expect(v2.status.err).toBe('task: container unhealthy');
    expect(ctlr.calls.at(-1)).toBe('stop');
  });

  it('turns an exit into failed (with the code) or complete', async () => {
    const ctlr = new FakeController();
    ctlr.container = { id: 'c1', status: 'exited', running: false, pid: 0, exitCode: 3, error: '', oomKilled: false, health: 'none', ports: [] };
    const v = view('running');
    expect(await converge(v, ctlr)).toEqual(['failed']);
    expect(v.status).toMatchObject({ err: 'task: non-zero exit (3)', containerStatus: { ContainerID: 'c1', ExitCode: 3 } });
    ctlr.container = { ...ctlr.container, exitCode: 0 };
    expect(await converge(view('running'), ctlr)).toEqual(['complete']);
  });

  it('rejects a task whose image cannot be had, and retries engine outages', async () => {
    const ctlr = new FakeController();
    ctlr.failWith = new FatalTaskError('No such image: nope:1');
    const v = view('preparing');
    expect(await converge(v, ctlr)).toEqual(['rejected']);
    expect(v.status.err).toContain('No such image');
    ctlr.failWith = new Error('connect ENOENT /var/run/docker.sock');
    await expect(stepTask(view('preparing'), ctlr)).rejects.toThrow(/ENOENT/);
  });

  it('shuts down: stops, reports shutdown; a removed task also loses its container', async () => {
    const ctlr = new FakeController();
    await converge(view('assigned'), ctlr);
    expect(await converge(view('running', 'shutdown'), ctlr)).toEqual(['shutdown']);
    expect(ctlr.container?.running).toBe(false);
    expect(await converge(view('shutdown', 'remove'), ctlr)).toEqual([]);
    expect(ctlr.container).toBeUndefined();
    expect(ctlr.calls.slice(-2)).toEqual(['stop', 'remove']);
  });

  it('a task that left the set is cleaned up without a report', async () => {
    const ctlr = new FakeController();
    await converge(view('assigned'), ctlr);
    expect(await converge(view('running', 'gone'), ctlr)).toEqual([]);
    expect(ctlr.container).toBeUndefined();
  });
});

describe('TaskRunner', () => {
  const quiet = createLogger({ write: () => undefined });
  /** A running task's runner, its container running, reports collected. */
  const DRAIN_MS = 600;
  function runningTask(drainMs: number | undefined, drains?: DrainWatch) {
    const ctlr = new FakeController();
    ctlr.container = { id: 'c1', status: 'running', running: true, pid: 42, exitCode: 0, error: '', oomKilled: false, health: 'none', ports: [] };
    const reports: string[] = [];
    const a = assignment({ state: 'running' });
    const runner = new TaskRunner('t1', a, ctlr, (r) => reports.push(r.state), quiet, undefined, drains);
    return { ctlr, reports, runner, stop: () => runner.update({ ...a, desiredState: 'shutdown', ...(drainMs ? { drainMs } : {}) }) };
  }
  const until = async (check: () => boolean, ms: number) => {
    for (const t0 = Date.now(); !check() && Date.now() - t0 < ms; ) await new Promise((r) => setTimeout(r, 10));
  };

  it('stops a task the control plane says to drain only after that, so other hosts stop sending to it first', async () => {
    const { ctlr, reports, stop } = runningTask(DRAIN_MS);
    const t0 = Date.now();
    stop();
    await new Promise((r) => setTimeout(r, DRAIN_MS / 2));
    expect(ctlr.calls).toEqual([]);
    await until(() => reports.includes('shutdown'), DRAIN_MS * 3);
    expect(ctlr.calls).toEqual(['stop']);
    expect(reports).toEqual(['shutdown']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(DRAIN_MS);
  });

  it('stops a task without a drain at once', async () => {
    const { ctlr, reports, stop } = runningTask(undefined);
    stop();
    await until(() => reports.includes('shutdown'), DRAIN_MS / 2);
    expect(ctlr.calls).toEqual(['stop']);
  });

  it('ends the drain as soon as the control plane says no host routes to the task any more', async () => {
    const asked: string[][] = [];
    // Not drained for the first three questions (other hosts still behind), then drained.
    const watch = new DrainWatch(async (ids) => (asked.push(ids), asked.length > 3 ? ids : []), quiet);
    const { ctlr, reports, stop } = runningTask(DRAIN_MS * 10, watch);
    const t0 = Date.now();
    stop();
    await until(() => reports.includes('shutdown'), DRAIN_MS * 5);
    expect(ctlr.calls).toEqual(['stop']);
    expect(asked.length).toBe(4);
    expect(asked.every((ids) => ids.join() === 't1')).toBe(true);
    expect(Date.now() - t0).toBeLessThan(DRAIN_MS * 5);
    watch.close();
  });

  it('keeps the drain bound when the control plane cannot say', async () => {
    let asked = 0;
    const watch = new DrainWatch(async () => {
      asked++;
      throw new Error('unreachable');
    }, quiet);
    const { ctlr, reports, stop } = runningTask(DRAIN_MS, watch);
    const t0 = Date.now();
    stop();
    await until(() => reports.includes('shutdown'), DRAIN_MS * 3);
    expect(ctlr.calls).toEqual(['stop']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(asked).toBeGreaterThan(1);
    watch.close();
  });
});

describe('containerCreateOptions', () => {
  it('maps Command/Args, limits, labels, host ports and a default init', () => {
    const a = assignment(
      { ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }, { Protocol: 'tcp', TargetPort: 81, PublishedPort: 30001, PublishMode: 'ingress' }] },
      { Command: ['/bin/sh'], Args: ['-c', 'x'], Env: ['A=1'], Labels: { mine: 'yes' }, StopGracePeriod: 3e9 },
    );
    const o = containerCreateOptions(a, 'n1');
    expect(o.name).toBe('web.2.t1');
    expect(o.Entrypoint).toEqual(['/bin/sh']);
    expect(o.Cmd).toEqual(['-c', 'x']);
    expect(o.Env).toEqual(['A=1']);
    expect(o.Labels).toMatchObject({ mine: 'yes', 'swarmlet.task.id': 't1', 'swarmlet.node.id': 'n1', 'swarmlet.slot': '2', 'com.docker.swarm.service.name': 'web' });
    expect(o.HostConfig).toMatchObject({ Init: true, RestartPolicy: { Name: 'no' }, NanoCpus: 5e8, Memory: 64 << 20, PortBindings: { '80/tcp': [{ HostPort: '8080' }] } });
    expect(Object.keys(o.HostConfig!.PortBindings!)).toEqual(['80/tcp']);
    expect(stopGraceMs(a)).toBe(3000);
    expect(stopGraceMs(assignment())).toBe(10_000);
  });

  it('passes the healthcheck through and honours the swarmlet.init=false opt-out', () => {
    const hc = { Test: ['CMD-SHELL', 'true'], Interval: 1e9, Retries: 2 };
    const o = containerCreateOptions(assignment({}, { Healthcheck: hc, Labels: { 'swarmlet.init': 'false' } }), 'n1');
    expect(o.Healthcheck).toEqual(hc);
    expect(o.HostConfig!.Init).toBe(false);
    expect(containerCreateOptions(assignment({ slot: 0 }), 'n1').name).toBe('web.n1.t1');
  });

  it('turns Privileges into SecurityOpt as dockerd does, and sets the log driver and OOM score', () => {
    const privileged = {
      Privileges: { NoNewPrivileges: true, Seccomp: { Mode: 'unconfined' }, AppArmor: { Mode: 'disabled' }, SELinuxContext: { User: 'u', Type: 't' } },
      OomScoreAdj: 200,
    };
    const a = assignment({}, privileged);
    a.spec!.LogDriver = { Name: 'json-file', Options: { 'max-size': '1m' } };
    const o = containerCreateOptions(a, 'n1');
    expect(o.HostConfig).toMatchObject({
      SecurityOpt: ['no-new-privileges=true', 'seccomp=unconfined', 'apparmor=unconfined', 'label=user:u', 'label=type:t'],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
      OomScoreAdj: 200,
    });
    // What the CLI posts when nothing is asked leaves the engine's defaults.
    const plain = containerCreateOptions(assignment({}, { Privileges: { CredentialSpec: null, SELinuxContext: null, NoNewPrivileges: false } }), 'n1');
    expect(plain.HostConfig!.SecurityOpt).toBeUndefined();
    expect(plain.HostConfig!.LogConfig).toBeUndefined();
    expect(containerCreateOptions(assignment({}, { Privileges: { SELinuxContext: { Disable: true } } }), 'n1').HostConfig!.SecurityOpt).toEqual(['label=disable']);
  });
});

describe('identity and tokens', () => {
  it('derives the WireGuard public key from the private key', () => {
    const keys = generateWireguardKeys();
    expect(Buffer.from(keys.privateKey, 'base64')).toHaveLength(32);
    expect(keys.publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(wireguardPublicKey(keys.privateKey)).toBe(keys.publicKey);
  });

  it('reads the URL from a join token; host:port overrides it', () => {
    const token = fakeJoinToken({ url: 'http://10.0.0.1:2399', cid: 'c1', role: 'worker', jti: 'j1' });
    expect(decodeJoinToken(token)).toEqual({ url: 'http://10.0.0.1:2399', clusterId: 'c1', role: 'worker', jti: 'j1' });
    expect(controlPlaneUrl('http://10.0.0.1:2399', '127.0.0.1:4000')).toBe('http://127.0.0.1:4000');
    expect(controlPlaneUrl('http://10.0.0.1:2399/')).toBe('http://10.0.0.1:2399');
    expect(() => decodeJoinToken('abc')).toThrow(/invalid join token/);
  });
});

describe('logger', () => {
  it('writes readable lines, or JSON for machines', () => {
    const lines: string[] = [];
    createLogger({ write: (l) => lines.push(l) }).info('joined cluster', { node: 'n1', msg: 'two words' });
    createLogger({ format: 'json', write: (l) => lines.push(l) }).warn('x', { err: new Error('boom') });
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO joined cluster node=n1 msg="two words"$/);
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'warn', msg: 'x', err: 'boom' });
  });
});

describe('control plane error replies', () => {
  it('branches on the protocol code, not on the message text', () => {
    const revoked = ControlPlaneError.fromReply(401, JSON.stringify({ message: 'whatever the words', code: 'credential_revoked' }));
    expect(revoked).toMatchObject({ status: 401, message: 'whatever the words', code: 'credential_revoked', revoked: true });
    // The old test on the text ("revoked") must not decide it any more.
    const expired = ControlPlaneError.fromReply(401, JSON.stringify({ message: 'node credential revoked? no: expired node credential', code: 'unauthorized' }));
    expect(expired.revoked).toBe(false);
    const unknownCode = ControlPlaneError.fromReply(401, JSON.stringify({ message: 'x', code: 'no-such-code' }));
    expect(unknownCode.code).toBeUndefined();
    const notJson = ControlPlaneError.fromReply(502, '<html>bad gateway</html>');
    expect(notJson).toMatchObject({ status: 502, message: '<html>bad gateway</html>', retryable: true, revoked: false });
  });
});

describe('agent configuration', () => {
  it('takes the long-poll wait from the environment, and refuses a bad one', () => {
    expect(loadAgentConfig({}, { SWARM_AGENT_LONG_POLL_WAIT_MS: '5000' }).longPollWaitMs).toBe(5000);
    expect(loadAgentConfig({}, {}).longPollWaitMs).toBe(30_000);
    expect(() => loadAgentConfig({}, { SWARM_AGENT_LONG_POLL_WAIT_MS: '0' })).toThrow(/SWARM_AGENT_LONG_POLL_WAIT_MS/);
  });

  it('takes the DNS upstreams from --dns-upstream or SWARM_AGENT_DNS_UPSTREAM, else from /etc/resolv.conf, and refuses a bad one', () => {
    expect(loadAgentConfig({ 'dns-upstream': ['10.9.0.1', '10.9.0.2:5353'] }, {}).dnsUpstreams).toEqual([{ host: '10.9.0.1', port: 53 }, { host: '10.9.0.2', port: 5353 }]);
    expect(loadAgentConfig({}, { SWARM_AGENT_DNS_UPSTREAM: '198.18.0.1:53,10.9.0.3' }).dnsUpstreams).toEqual([{ host: '198.18.0.1', port: 53 }, { host: '10.9.0.3', port: 53 }]);
    expect(loadAgentConfig({}, {}).dnsUpstreams).toEqual(hostUpstreams());
    expect(hostUpstreams().length).toBeGreaterThan(0);
    expect(() => loadAgentConfig({ 'dns-upstream': ['dns.example'] }, {})).toThrow(/invalid --dns-upstream 'dns.example'/);
  });
});
