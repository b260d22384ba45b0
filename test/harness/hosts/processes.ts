import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { sleep } from './command.ts';

interface ProcessEntry {
  pid: number;
  ppid: number;
  /** A zombie has exited already; it waits only for a parent to reap it. */
  zombie: boolean;
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return '';
  }
}

function processTable(): ProcessEntry[] {
  const table: ProcessEntry[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProc(Number(entry), 'stat');
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields.length < 2) continue;
    table.push({ pid: Number(entry), ppid: Number(fields[1]), zombie: fields[0] === 'Z' });
  }
  return table;
}

/** What marks a process as a run's, or one host's (see RunNames.owner and HostNames.owner). */
export interface ProcessOwner {
  /** Its directory, anywhere in a process's arguments or environment. */
  dir: string;
  /** Whether one whole argument is one of its names. */
  ownsArg: (arg: string) => boolean;
}

/**
 * The live processes of an owner, and all their descendants. Every process a run starts names its
 * directory: dockerd (--data-root), containerd (--config) and the shims (-address) in their
 * arguments, agents by --state-dir, the control plane by DATA_DIR in its environment; containers
 * are the shims' children. A daemon that leaves its parent and takes no path (wireguard-go takes
 * only its interface name) is found by that name. Nothing outside the run has the run's unique
 * directory or names in either.
 */
export function processesOf(owner: ProcessOwner): number[] {
  const marker = owner.dir.endsWith('/') ? owner.dir : `${owner.dir}/`;
  const table = processTable().filter((p) => !p.zombie && p.pid !== process.pid);
  const owned = (pid: number) => {
    const cmdline = readProc(pid, 'cmdline');
    return cmdline.includes(marker) || cmdline.split('\0').some(owner.ownsArg) || readProc(pid, 'environ').includes(marker);
  };
  const found = new Set(table.filter((p) => owned(p.pid)).map((p) => p.pid));
  // Descendants, to a fixed point (bounded: each round adds at least one process or stops).
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  return [...found];
}

function alive(pid: number): boolean {
  const stat = readProc(pid, 'stat');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/**
 * The machine-wide sockets of the owner's daemons, which a SIGKILLed daemon leaves behind (they
 * are not under any directory of the run):
 * - containerd shims: /run/containerd/s/<sha256 of `<containerd address>/<namespace>/<container
 *   id>`> (containerd's shim.SocketAddress);
 * - wireguard-go: /var/run/wireguard/<interface>.sock (it exits when that file goes, too).
 */
export function daemonSocketsOf(owner: ProcessOwner): string[] {
  return processesOf(owner).flatMap((pid) => {
    const args = readProc(pid, 'cmdline').split('\0');
    const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
    if (args[0]?.endsWith('wireguard-go') && args[1]) return [`/var/run/wireguard/${args[1]}.sock`];
    if (!args[0]?.includes('containerd-shim') || !args.includes('-id') || !args.includes('-address')) return [];
    const path = `${arg('-address')}/${arg('-namespace') ?? 'moby'}/${arg('-id')}`;
    return [`/run/containerd/s/${createHash('sha256').update(path).digest('hex')}`];
  });
}

/**
 * SIGKILLs every process of the owner (a host dying: no engine shutdown, containers die with it)
 * and waits until none is left. A killed process whose parent is gone stays a zombie here (PID 1
 * of this machine does not reap), so a zombie counts as gone. Rescans a few times because a
 * process may fork while the first ones die. The killed daemons' sockets are removed, as a real
 * host's /run would be emptied by its reboot.
 */
export async function killProcessesOf(owner: ProcessOwner, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 20 && Date.now() < deadline; round++) {
    const pids = processesOf(owner);
    if (!pids.length) return;
    const sockets = daemonSocketsOf(owner);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    while (Date.now() < deadline && pids.some(alive)) await sleep(50);
    for (const socket of sockets) rmSync(socket, { force: true });
  }
  const left = processesOf(owner);
  if (left.length) throw new Error(`processes of ${owner.dir} survived SIGKILL for ${timeoutMs} ms: ${left.join(' ')}`);
}
