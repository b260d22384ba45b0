import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './command.ts';
import { RunNames, SLOTS } from './names.ts';

/**
 * Where runs claim their slot (their subnets). On the machine's disk, not in the run's directory:
 * runs from other worktrees on this machine must see each other's claims.
 */
export const CLAIM_DIR = '/run/swarmlet-hosts';

interface Claim {
  prefix: string;
  slot: number;
  /** The process that runs the harness; when it is gone, the claim is stale. */
  pid: number;
}

const claimFile = (slot: number) => join(CLAIM_DIR, `slot-${slot}.json`);

function readClaim(slot: number): Claim | undefined {
  try {
    return JSON.parse(readFileSync(claimFile(slot), 'utf8')) as Claim;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Someone else (not a run of this harness) already routes this slot's subnet: leave it alone. */
async function subnetInUse(slot: number): Promise<boolean> {
  const res = await run('ip', ['-4', '-o', 'addr', 'show']);
  return res.stdout.includes(` 198.18.${slot}.`);
}

/**
 * Claims the lowest free slot for a run with an exclusive create (so two runs starting together
 * cannot both take one), skipping slots whose subnet someone uses. A claim whose owner died (a
 * killed test run, whose afterAll never ran) is reaped first: `reap` removes what that run's
 * names cover, then the slot is taken over.
 */
export async function claimSlot(prefix: string, reap: (stale: RunNames) => Promise<void>): Promise<RunNames> {
  mkdirSync(CLAIM_DIR, { recursive: true });
  for (let slot = 0; slot < SLOTS; slot++) {
    const existing = readClaim(slot);
    if (existing && pidAlive(existing.pid)) continue;
    if (existing) {
      await reap(new RunNames(existing.prefix, existing.slot));
      rmSync(claimFile(slot), { force: true });
    }
    try {
      writeFileSync(claimFile(slot), JSON.stringify({ prefix, slot, pid: process.pid } satisfies Claim), { flag: 'wx' });
    } catch {
      continue; // another run took it between our read and our write
    }
    if (await subnetInUse(slot)) {
      rmSync(claimFile(slot), { force: true });
      continue;
    }
    return new RunNames(prefix, slot);
  }
  throw new Error(`no free test subnet: all ${SLOTS} slots in ${CLAIM_DIR} are held by live runs or in use`);
}

/** Gives the slot back, if this run still holds it. */
export function releaseSlot(names: RunNames): void {
  if (readClaim(names.slot)?.prefix === names.prefix) rmSync(claimFile(names.slot), { force: true });
}

/** Whether this run's claim is still on disk (the leftover check). */
export function claimHeld(names: RunNames): boolean {
  return readdirSync(CLAIM_DIR).some((f) => readClaim(Number(/\d+/.exec(f)?.[0]))?.prefix === names.prefix);
}
