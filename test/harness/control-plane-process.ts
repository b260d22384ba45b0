import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export interface ControlPlaneProcess {
  proc: ChildProcess;
  url: string;
  port: number;
  dataDir: string;
  /** DOCKER_CONFIG and DOCKER_HOST exactly as the control plane printed them. */
  dockerEnv: { DOCKER_CONFIG: string; DOCKER_HOST: string };
  output(): string;
  /** Resolves when a line matching the pattern has been printed. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `control-plane/server.ts` as its own process on a free port, as `npm start` would, and
 * reads the two export lines it prints.
 */
export async function startControlPlane(opts: { dataDir?: string; env?: Record<string, string> } = {}): Promise<ControlPlaneProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'swarmlet-cp-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'control-plane/server.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));

  const waitForOutput = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolvePromise, reject) => {
      const check = () => {
        const m = pattern.exec(out);
        if (m) {
          listeners.delete(check);
          clearTimeout(timer);
          resolvePromise(m[0]);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`control plane did not print ${pattern} within ${timeoutMs} ms; output:\n${out}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });

  const hostLine = await waitForOutput(/export DOCKER_HOST=tcp:\/\/\S+/);
  const configLine = await waitForOutput(/export DOCKER_CONFIG=\S+/);
  const hostPort = hostLine.replace('export DOCKER_HOST=tcp://', '');
  return {
    proc,
    url: `http://${hostPort}`,
    port: Number(hostPort.split(':')[1]),
    dataDir,
    dockerEnv: { DOCKER_CONFIG: configLine.replace('export DOCKER_CONFIG=', ''), DOCKER_HOST: `tcp://${hostPort}` },
    output: () => out,
    waitForOutput,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}
