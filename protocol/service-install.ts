import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { renderUnit, type ServiceUnit } from './systemd-unit.ts';

/** Where units of the local administrator go. */
export const SYSTEM_UNIT_DIR = '/etc/systemd/system';

/** The part of systemd install and uninstall talk to: whether it runs here, and systemctl. */
export interface Systemd {
  running(): boolean;
  systemctl(args: string[]): Promise<void>;
}

const execFileAsync = promisify(execFile);

/** This machine's systemd: booted with it exactly when /run/systemd/system exists (sd_booted(3)). */
export const hostSystemd: Systemd = {
  running: () => existsSync('/run/systemd/system'),
  async systemctl(args) {
    try {
      await execFileAsync('systemctl', args);
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      throw new Error(`systemctl ${args.join(' ')} failed: ${stderr || (err as Error).message}`);
    }
  },
};

export interface ServiceInstallOptions {
  /** The folder for the unit file; SYSTEM_UNIT_DIR unless told. */
  unitDir?: string;
  systemd?: Systemd;
  /** Where the lines for the user go (stdout). */
  say: (line: string) => void;
}

export type InstallOutcome = 'started' | 'written' | 'printed';

/**
 * Installs the unit: with systemd running, writes it, reloads and `enable --now`s it. Without
 * systemd it writes the unit only into a folder the user named, else prints it and where it goes,
 * and changes nothing on the machine.
 */
export async function installService(unit: ServiceUnit, opts: ServiceInstallOptions): Promise<InstallOutcome> {
  const systemd = opts.systemd ?? hostSystemd;
  const text = renderUnit(unit);
  const dir = opts.unitDir ?? SYSTEM_UNIT_DIR;
  const file = join(dir, `${unit.name}.service`);
  if (!systemd.running() && !opts.unitDir) {
    opts.say(`systemd is not running on this machine; the unit for ${unit.name}:\n`);
    opts.say(text);
    opts.say(`save it as ${file}, then: systemctl daemon-reload && systemctl enable --now ${unit.name}`);
    return 'printed';
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, text, { mode: 0o644 });
  if (!systemd.running()) {
    opts.say(`wrote ${file}; systemd is not running here: enable it where it runs with systemctl enable --now ${unit.name}`);
    return 'written';
  }
  await systemd.systemctl(['daemon-reload']);
  await systemd.systemctl(['enable', '--now', `${unit.name}.service`]);
  opts.say(`installed ${file}, enabled and started; its log: journalctl -u ${unit.name} -f`);
  return 'started';
}

/** Stops and disables the unit when systemd runs, and removes its file; the state it ran on stays. */
export async function uninstallService(name: string, opts: ServiceInstallOptions): Promise<boolean> {
  const systemd = opts.systemd ?? hostSystemd;
  const file = join(opts.unitDir ?? SYSTEM_UNIT_DIR, `${name}.service`);
  const present = existsSync(file);
  if (systemd.running() && present) await systemd.systemctl(['disable', '--now', `${name}.service`]);
  rmSync(file, { force: true });
  if (systemd.running() && present) await systemd.systemctl(['daemon-reload']);
  opts.say(present ? `removed ${file}` : `no unit ${file}; nothing to remove`);
  return present;
}
