/** The systemd units the commands install, read back as systemd reads them, and install/uninstall's steps. */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentUnit } from '../../agent/service.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { controlPlaneUnit } from '../../control-plane/service.ts';
import { installService, type Systemd, uninstallService } from '../../protocol/service-install.ts';
import { renderUnit } from '../../protocol/systemd-unit.ts';
import { parseUnit, splitUnitWords, unitValues } from '../harness/systemd-unit.ts';

const dirs: string[] = [];
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlet-unit-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** systemctl as a recording, with systemd running or not. */
function fakeSystemd(running: boolean): Systemd & { calls: string[] } {
  const calls: string[] = [];
  return { calls, running: () => running, systemctl: async (args) => void calls.push(args.join(' ')) };
}

const awkwardDir = '/srv/my agent/"100%"/$HOME\\x';

describe('the agent unit', () => {
  const config = loadAgentConfig({ 'state-dir': awkwardDir, 'docker-host': 'unix:///run/docker.sock', 'log-format': 'json' }, {});
  const flags = { label: ['zone=a b', 'disk=ssd'], 'advertise-addr': '10.0.0.5', 'wireguard-interface': 'wg1', token: 'secret-token' };
  const unit = parseUnit(renderUnit(agentUnit(config, flags)));

  it('runs `swarm-agent run` with node and the compiled bin by absolute path, each word surviving systemd\'s splitting', () => {
    const [execStart, ...more] = unitValues(unit, 'Service', 'ExecStart');
    expect(more).toEqual([]);
    const words = splitUnitWords(execStart!);
    expect(words.slice(0, 3)).toEqual([process.execPath, join(import.meta.dirname, '../../bin/swarm-agent.js'), 'run']);
    expect(words.slice(3)).toEqual([
      ...['--state-dir', awkwardDir, '--docker-host', 'unix:///run/docker.sock', '--log-format', 'json'],
      ...['--advertise-addr', '10.0.0.5', '--label', 'zone=a b', '--label', 'disk=ssd', '--wireguard-interface', 'wg1'],
    ]);
    // The join token is spent at join: the unit runs from the state dir and never holds it.
    expect(execStart).not.toContain('secret-token');
  });

  it('restarts on failure, starts after the engine and the network, at boot', () => {
    expect(Object.keys(unit)).toEqual(['Unit', 'Service', 'Install']);
    expect(unitValues(unit, 'Service', 'Restart')).toEqual(['on-failure']);
    expect(unitValues(unit, 'Service', 'Type')).toEqual(['simple']);
    expect(unitValues(unit, 'Unit', 'After')[0]!.split(' ')).toEqual(['network-online.target', 'docker.service']);
    expect(unitValues(unit, 'Unit', 'Wants')[0]!.split(' ')).toContain('docker.service');
    expect(unitValues(unit, 'Install', 'WantedBy')).toEqual(['multi-user.target']);
  });

  it('a relative state dir is made absolute (systemd starts in /)', () => {
    const relative = parseUnit(renderUnit(agentUnit(loadAgentConfig({ 'state-dir': 'state' }, {}), {})));
    const words = splitUnitWords(unitValues(relative, 'Service', 'ExecStart')[0]!);
    expect(words[words.indexOf('--state-dir') + 1]).toBe(join(process.cwd(), 'state'));
  });

  it('a line break in a word is refused, not written', () => {
    expect(() => renderUnit(agentUnit(loadAgentConfig({ 'state-dir': '/x\nExecStartPre=/bin/evil' }, {}), {}))).toThrow(/line break/);
  });
});

describe('the control-plane unit', () => {
  const unit = parseUnit(renderUnit(controlPlaneUnit({ dataDir: '/var/lib/swarmlet', envFile: '/etc/swarmlet/swarmlet.env', logFormat: 'json' })));

  it('runs `swarmlet serve` with its data dir and log format, the rest from an optional environment file', () => {
    expect(splitUnitWords(unitValues(unit, 'Service', 'ExecStart')[0]!)).toEqual([process.execPath, join(import.meta.dirname, '../../bin/swarmlet.js'), 'serve']);
    expect(unitValues(unit, 'Service', 'Environment').map(splitUnitWords).flat()).toEqual(['DATA_DIR=/var/lib/swarmlet', 'LOG_FORMAT=json']);
    expect(unitValues(unit, 'Service', 'EnvironmentFile')).toEqual(['-/etc/swarmlet/swarmlet.env']);
    expect(unitValues(unit, 'Service', 'UMask')).toEqual(['0077']);
    expect(unitValues(unit, 'Service', 'Restart')).toEqual(['on-failure']);
  });
});

describe('install and uninstall', () => {
  const unit = controlPlaneUnit({ dataDir: '/var/lib/swarmlet', envFile: '/etc/swarmlet/swarmlet.env', logFormat: 'text' });

  it('with systemd running: writes the unit (0644), reloads, enables and starts it; uninstall undoes it in reverse', async () => {
    const dir = tempDir();
    const systemd = fakeSystemd(true);
    const said: string[] = [];
    expect(await installService(unit, { unitDir: dir, systemd, say: (l) => said.push(l) })).toBe('started');
    const file = join(dir, 'swarmlet.service');
    expect(readFileSync(file, 'utf8')).toBe(renderUnit(unit));
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(systemd.calls).toEqual(['daemon-reload', 'enable --now swarmlet.service']);
    expect(said.join('\n')).toContain('journalctl -u swarmlet');

    expect(await uninstallService('swarmlet', { unitDir: dir, systemd, say: () => undefined })).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(systemd.calls.slice(2)).toEqual(['disable --now swarmlet.service', 'daemon-reload']);
    // Nothing left: a second uninstall says so and calls nothing.
    expect(await uninstallService('swarmlet', { unitDir: dir, systemd, say: () => undefined })).toBe(false);
    expect(systemd.calls).toHaveLength(4);
  });

  it('without systemd: prints the unit and where it goes, and touches nothing', async () => {
    const systemd = fakeSystemd(false);
    const said: string[] = [];
    expect(await installService(unit, { systemd, say: (l) => said.push(l) })).toBe('printed');
    expect(said.join('\n')).toContain(renderUnit(unit));
    expect(said.at(-1)).toBe('save it as /etc/systemd/system/swarmlet.service, then: systemctl daemon-reload && systemctl enable --now swarmlet');
    expect(systemd.calls).toEqual([]);
  });

  it('without systemd but with a unit folder given: writes it there and enables nothing', async () => {
    const dir = tempDir();
    const systemd = fakeSystemd(false);
    expect(await installService(unit, { unitDir: dir, systemd, say: () => undefined })).toBe('written');
    expect(existsSync(join(dir, 'swarmlet.service'))).toBe(true);
    expect(systemd.calls).toEqual([]);
  });
});
