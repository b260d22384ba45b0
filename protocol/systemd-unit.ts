/** A systemd service unit as swarmlet's commands install themselves: the parts they vary. */
export interface ServiceUnit {
  /** The unit's name without `.service`: swarm-agent, swarmlet. */
  name: string;
  description: string;
  /** The command line, absolute paths first (systemd runs no shell and has its own PATH). */
  execStart: string[];
  /** Units started before this one (and wanted by it): network-online.target, docker.service. */
  after: string[];
  environment?: Record<string, string>;
  /** Further variables from a file, read if it exists (the leading `-`), for values kept out of the unit. */
  environmentFile?: string;
}

/**
 * One ExecStart word as systemd splits command lines: double-quoted when it holds anything but
 * plain characters, `%` doubled (specifiers) and `$` doubled (variable expansion).
 */
export function quoteUnitWord(word: string): string {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  if (/^[\w@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function environmentLine(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid environment variable name '${name}'`);
  return `Environment=${quoteUnitWord(`${name}=${value}`)}`;
}

/**
 * The unit file's text. Restart on failure only: a clean exit (`systemctl stop`, a node removed from
 * its cluster) stays stopped. The process keeps the default KillMode: task containers belong to the
 * engine's cgroup, not this one, so stopping the service leaves them running.
 */
export function renderUnit(unit: ServiceUnit): string {
  for (const word of unit.execStart) if (/[\n\r\0]/.test(word)) throw new Error(`a command-line word of ${unit.name} holds a line break`);
  const after = unit.after.join(' ');
  return [
    '[Unit]',
    `Description=${unit.description}`,
    `After=${after}`,
    `Wants=${after}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${unit.execStart.map(quoteUnitWord).join(' ')}`,
    ...Object.entries(unit.environment ?? {}).map(([name, value]) => environmentLine(name, value)),
    ...(unit.environmentFile ? [`EnvironmentFile=-${unit.environmentFile}`] : []),
    'UMask=0077',
    'Restart=on-failure',
    'RestartSec=2',
    'TimeoutStopSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
