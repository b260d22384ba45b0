import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { inNetns, must, sleep } from './command.ts';
import type { HostNames } from './names.ts';

/** The image every test host gets: built by .ci/build-test-image.sh into the machine's engine. */
export const TEST_IMAGE = 'local/busybox:1';
/** The machine's own engine, the only place the test image comes from (no registry is reachable). */
const MACHINE_ENGINE = 'unix:///var/run/docker.sock';

export interface Engine {
  proc: ChildProcess;
  docker: Dockerode;
  /** Where dockerd writes its log: read it when an engine misbehaves. */
  logFile: string;
}

const paths = (host: HostNames) => ({
  dataRoot: join(host.dir, 'data'),
  execRoot: join(host.dir, 'exec'),
  pidfile: join(host.dir, 'docker.pid'),
  containerdPidfile: join(host.dir, 'exec', 'containerd', 'containerd.pid'),
  logFile: join(host.dir, 'dockerd.log'),
});

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts the host's own dockerd inside its namespace, with its own data root, exec root, socket,
 * pidfile, docker0 range and cgroup parent, and waits until it answers. Only ever called when this
 * host's engine is not running (first start, or after killHost waited for its processes): the
 * pidfiles left by a SIGKILLed engine are then stale, and dockerd refuses to start ("pid file
 * found") or waits for a containerd that is not there ("timeout waiting for containerd to start")
 * when the dead pid is still a zombie, which on this machine it stays.
 */
export async function startEngine(host: HostNames, timeoutMs = 30_000): Promise<Engine> {
  const p = paths(host);
  mkdirSync(host.dir, { recursive: true });
  rmSync(p.pidfile, { force: true });
  rmSync(p.containerdPidfile, { force: true });
  const log = openSync(p.logFile, 'a');
  const [launcher, ...launcherArgs] = inNetns(host.name);
  const args = [
    ...launcherArgs,
    'dockerd',
    '--data-root', p.dataRoot,
    '--exec-root', p.execRoot,
    '--host', host.engineUrl,
    '--pidfile', p.pidfile,
    '--bip', host.bip,
    // Containers' cgroups under a name of this run, so teardown can find and remove them.
    '--cgroup-parent', `/${host.name}`,
  ];
  const proc = spawn(launcher!, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  const docker = new Dockerode({ socketPath: host.engineSocket });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`dockerd of ${host.name} exited: ${tail(p.logFile)}`);
    if (existsSync(host.engineSocket) && (await docker.ping().then(() => true, () => false))) return { proc, docker, logFile: p.logFile };
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`dockerd of ${host.name} did not answer within ${timeoutMs} ms: ${tail(p.logFile)}`);
}

/**
 * Saves the test image from the machine's engine once per run, for every host to load (the hosts'
 * engines cannot pull). Fails, rather than skips, when the image is missing.
 */
export async function saveTestImage(tarPath: string): Promise<void> {
  try {
    await must('docker', ['--host', MACHINE_ENGINE, 'image', 'save', '--output', tarPath, TEST_IMAGE], 60_000);
  } catch (err) {
    throw new Error(`the test hosts need ${TEST_IMAGE} in the machine's engine (.ci/build-test-image.sh builds it): ${(err as Error).message}`);
  }
}

export async function loadImages(host: HostNames, tarPath: string): Promise<void> {
  await must('docker', ['--host', host.engineUrl, 'image', 'load', '--input', tarPath], 60_000);
}
