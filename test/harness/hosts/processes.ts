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

/**
 * The live processes that belong under `dir`, and all their descendants. Every process a run starts
 * names its directory: dockerd (--data-root), containerd (--config) and the shims (-address) in their
 * arguments, agents by --state-dir, the control plane by DATA_DIR in its environment. Containers
 * are the shims' children. Nothing outside the run has the run's unique directory in either.
 */
export function processesUnder(dir: string): number[] {
  const marker = dir.endsWith('/') ? dir : `${dir}/`;
  const table = processTable().filter((p) => !p.zombie && p.pid !== process.pid);
  const found = new Set(
    table.filter((p) => readProc(p.pid, 'cmdline').includes(marker) || readProc(p.pid, 'environ').includes(marker)).map((p) => p.pid),
  );
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
 * The sockets of the containerd shims under `dir`. They are not under the engine's exec root but
 * in the machine-wide /run/containerd/s, named by the sha256 of `<containerd address>/<namespace>/
 * <container id>` (containerd's shim.SocketAddress), and a SIGKILLed shim leaves its socket there.
 */
export function shimSocketsUnder(dir: string): string[] {
  return processesUnder(dir).flatMap((pid) => {
    const args = readProc(pid, 'cmdline').split('\0');
    const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
    if (!args[0]?.includes('containerd-shim') || !args.includes('-id') || !args.includes('-address')) return [];
    const path = `${arg('-address')}/${arg('-namespace') ?? 'moby'}/${arg('-id')}`;
    return [`/run/containerd/s/${createHash('sha256').update(path).digest('hex')}`];
  });
}

/**
 * SIGKILLs every process under `dir` (a host dying: no engine shutdown, containers die with it)
 * and waits until none is left. A killed process whose parent is gone stays a zombie here (PID 1
 * of this machine does not reap), so a zombie counts as gone. Rescans a few times because a
 * process may fork while the first ones die. The killed shims' sockets are removed, as a real
 * host's /run would be emptied by its reboot.
 */
export async function killProcessesUnder(dir: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 20 && Date.now() < deadline; round++) {
    const pids = processesUnder(dir);
    if (!pids.length) return;
    const sockets = shimSocketsUnder(dir);
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
  const left = processesUnder(dir);
  if (left.length) throw new Error(`processes under ${dir} survived SIGKILL for ${timeoutMs} ms: ${left.join(' ')}`);
}
