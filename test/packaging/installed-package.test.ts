/**
 * What an operator gets from `npm pack`: the tarball installed into a temporary prefix with
 * nothing but Node and npm (runtime dependencies from the registry), its `swarmlet serve` and
 * `swarm-agent` as the only processes they are, running a service on the real engine, and
 * `swarm-agent join --install`'s unit starting a working agent.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE } from '../agent/agent-process.ts';
import { AgentCluster } from '../harness/agent-cluster.ts';
import { docker, eventually } from '../harness/docker-cli.ts';
import { ROOT, spawnWatched, type WatchedProcess } from '../harness/process-output.ts';
import { parseUnit, splitUnitWords, unitValues } from '../harness/systemd-unit.ts';
import { childProcesses, commandLine, residentMiBOf } from '../harness/proc-info.ts';
import { run } from '../harness/hosts/command.ts';

const work = mkdtempSync(join(tmpdir(), 'swarmlet-pkg-'));
const prefix = join(work, 'prefix');
const installed = join(prefix, 'node_modules', 'swarmlet');
const bin = (name: 'swarmlet' | 'swarm-agent') => join(prefix, 'node_modules', '.bin', name);
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let tarball = '';

beforeAll(async () => {
  // prepack builds dist/ first, as it would for a publish.
  const packed = await run('npm', ['pack', '--pack-destination', work, '--no-audit', '--no-fund'], 300_000, ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
  mkdirSync(prefix);
  const install = await run('npm', ['install', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], 300_000, work);
  expect(install.code, install.stderr).toBe(0);
}, 600_000);

const cluster = new AgentCluster('pkg', { controlPlaneCommand: [bin('swarmlet'), 'serve'], agentCommand: [bin('swarm-agent')] });
beforeAll(() => cluster.start(), 120_000);
afterAll(async () => {
  await cluster.stop();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the packed and installed swarmlet', () => {
  it('the tarball carries compiled code with source maps, bins and migrations; no sources, tests or build state', async () => {
    const listing = (await run('tar', ['tzf', tarball])).stdout.split('\n').filter(Boolean);
    for (const file of ['bin/swarm-agent.js', 'bin/swarmlet.js', 'dist/agent/swarm-agent.js', 'dist/agent/swarm-agent.js.map', 'dist/control-plane/cli.js', 'migrations/meta/_journal.json', 'package.json', 'README.md']) {
      expect(listing).toContain(`package/${file}`);
    }
    expect(listing.filter((f) => f.endsWith('.sql')).length).toBeGreaterThanOrEqual(15);
    expect(listing.filter((f) => f.endsWith('.ts') || f.startsWith('package/test/') || f.includes('tsbuildinfo') || f.includes('dist/worker'))).toEqual([]);
  });

  it('installs only runtime dependencies: no TypeScript loader, compiler, test runner or wrangler, and none of what the agent bundle carries', () => {
    const modules = readdirSync(join(prefix, 'node_modules'));
    expect(modules).toContain('hono');
    for (const dev of ['tsx', 'typescript', 'vitest', 'wrangler', 'drizzle-kit', 'esbuild']) expect(modules).not.toContain(dev);
    // dockerode (with ssh2 and its native builds) and undici are in dist/agent/swarm-agent.js or not used at all.
    for (const bundled of ['dockerode', 'docker-modem', 'ssh2', 'cpu-features', 'undici']) expect(modules).not.toContain(bundled);
  });

  it('both commands answer --version and --help', async () => {
    for (const name of ['swarmlet', 'swarm-agent'] as const) {
      const v = await run(bin(name), ['--version'], 30_000, work);
      expect(v).toEqual({ code: 0, stdout: `${name} ${version}\n`, stderr: '' });
      const help = await run(bin(name), ['--help'], 30_000, work);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage:/);
      expect(help.stdout).toContain(`${name} install`);
    }
  });

  it('the installed agent is one bundle without the dockerode dependencies or the undici parts it never calls, and joined and idle it stays under 95 MiB resident', () => {
    const bundle = readFileSync(join(installed, 'dist/agent/swarm-agent.js'), 'utf8');
    // esbuild heads each bundled file with a `// <path>` comment.
    expect(bundle).toMatch(/^\/\/ .*node_modules\/dockerode\/lib\/docker\.js$/m);
    for (const left of ['ssh2', '@grpc/grpc-js', 'protobufjs', 'tar-fs']) {
      expect(bundle).not.toMatch(new RegExp(`^// .*node_modules/${left}/`, 'm'));
      expect(bundle).toContain(`${left} is not part of swarm-agent`);
    }
    // undici's core only (agent/undici.ts): its fetch, WebSocket and cache are not in the bundle.
    expect(bundle).toMatch(/^\/\/ .*node_modules\/undici\/lib\/dispatcher\/client-h1\.js$/m);
    expect(bundle).not.toMatch(/^\/\/ .*node_modules\/undici\/lib\/web\/websocket\//m);
    // 87 MiB measured (bench/README.md, startup): Node's own 41.5, undici's core about 30. With all of
    // undici 100-108; the goal of 60 holds only without undici, a fixed choice of the product.
    expect(residentMiBOf(cluster.agent.proc.pid!)).toBeLessThan(95);
  });

  it('the installed control plane and agent are one node process each and run a service on the real engine', async () => {
    for (const proc of [cluster.cp.proc, cluster.agent.proc]) {
      // node itself, started by the bin's shebang, running the installed package's script.
      expect(readlinkSync(`/proc/${proc.pid}/exe`)).toBe(realpathSync(process.execPath));
      expect(realpathSync(commandLine(proc.pid!)[1]!).startsWith(realpathSync(installed))).toBe(true);
      expect(childProcesses(proc.pid!)).toEqual([]);
    }
    const name = `s${cluster.run}-pkg`;
    await cluster.createService(name, ['--replicas', '2', 'local/busybox:1', 'sleep', '3600']);
    const running = await eventually(async () => {
      const list = await cluster.containers();
      return list.length === 2 && list.every((c) => c.Labels['swarmlet.node.id'] === cluster.nodeId) ? list : undefined;
    }, 60_000);
    expect(running.map((c) => c.Labels['com.docker.swarm.service.name'])).toEqual([name, name]);
    await eventually(async () => (await docker(['service', 'ls', '--filter', `name=${name}`, '--format', '{{.Replicas}}'], cluster.env)).stdout.trim() === '2/2');
  });

  it('`swarm-agent join --install` joins, writes a unit (no systemd here) whose command line runs the agent; uninstall removes it', async () => {
    const stateDir = join(work, 'second-agent');
    const unitDir = join(work, 'units');
    const hostname = `pkg2-${cluster.run}`;
    const wireguard = `wgu-${cluster.run}`;
    const token = (await docker(['swarm', 'join-token', '-q', 'worker'], cluster.env)).stdout.trim();
    let agent: WatchedProcess | undefined;
    try {
      const joined = await run(
        bin('swarm-agent'),
        ['join', token, '--install', '--unit-dir', unitDir, '--state-dir', stateDir, '--hostname', hostname, '--docker-host', ENGINE, '--advertise-addr', '127.0.0.1', '--wireguard-interface', wireguard, '--log-format', 'json'],
        30_000,
        work,
      );
      expect(joined.code, joined.stdout + joined.stderr).toBe(0);
      expect(joined.stdout).toContain(`wrote ${unitDir}/swarm-agent.service; systemd is not running here`);
      const unit = parseUnit(readFileSync(join(unitDir, 'swarm-agent.service'), 'utf8'));
      const words = splitUnitWords(unitValues(unit, 'Service', 'ExecStart')[0]!);
      expect(words.slice(1, 3)).toEqual([join(realpathSync(installed), 'bin', 'swarm-agent.js'), 'run']);
      expect(words).toEqual(expect.arrayContaining(['--state-dir', stateDir, '--hostname', hostname, '--wireguard-interface', wireguard, '--log-format', 'json']));
      expect(unitValues(unit, 'Service', 'Restart')).toEqual(['on-failure']);

      // What systemd would start: the unit's words as they are, from /.
      agent = spawnWatched(words, {}, 'unit agent', 20_000);
      await agent.waitForOutput(/"msg":"agent running"/);
      await eventually(async () => (await docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], cluster.env)).stdout.includes(`${hostname} Ready`));
      expect(childProcesses(agent.proc.pid!)).toEqual([]);

      const removed = await run(bin('swarm-agent'), ['uninstall', '--unit-dir', unitDir], 30_000, work);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout).toContain(`removed ${unitDir}/swarm-agent.service`);
      expect(existsSync(join(unitDir, 'swarm-agent.service'))).toBe(false);
    } finally {
      await agent?.stop();
      await new Promise((resolve) => execFile('ip', ['link', 'del', 'dev', wireguard], resolve));
    }
  });

  it('`swarm-agent install` before any join says to join first', async () => {
    const res = await run(bin('swarm-agent'), ['install', '--state-dir', join(work, 'never-joined'), '--unit-dir', join(work, 'units')], 30_000, work);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('join first: swarm-agent join <token> --install');
  });

  it('`swarmlet install` writes the control plane\'s unit running the installed `swarmlet serve`', async () => {
    const unitDir = join(work, 'cp-units');
    const res = await run(bin('swarmlet'), ['install', '--unit-dir', unitDir, '--data-dir', join(work, 'cp-data')], 30_000, work);
    expect(res.code, res.stderr).toBe(0);
    const unit = parseUnit(readFileSync(join(unitDir, 'swarmlet.service'), 'utf8'));
    expect(splitUnitWords(unitValues(unit, 'Service', 'ExecStart')[0]!).slice(1)).toEqual([join(realpathSync(installed), 'bin', 'swarmlet.js'), 'serve']);
    expect(unitValues(unit, 'Service', 'Environment')).toContain(`DATA_DIR=${join(work, 'cp-data')}`);
    expect((await run(bin('swarmlet'), ['uninstall', '--unit-dir', unitDir], 30_000, work)).code).toBe(0);
    expect(existsSync(join(unitDir, 'swarmlet.service'))).toBe(false);
  });
});
