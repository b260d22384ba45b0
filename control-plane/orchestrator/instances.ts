import { eq, gt, lte, sql } from 'drizzle-orm';
import type { Database, Reader } from '../db/database.ts';
import { instances } from '../db/schema/index.ts';
import type { Logger } from '../../protocol/log.ts';
import { dbNow } from './lease.ts';

/**
 * Records (or renews) this instance's URL, on the database's clock like the lease. Rows dead for
 * longer than the TTL go in the same transaction: an instance that comes back registers again.
 */
export async function registerInstance(database: Database, id: string, url: string, ttlMs: number): Promise<void> {
  await database.write(async (tx) => {
    await tx
      .insert(instances)
      .values({ id, url, seenAt: dbNow, startedAt: dbNow })
      .onConflictDoUpdate({ target: instances.id, set: { url, seenAt: dbNow } });
    await tx.delete(instances).where(lte(instances.seenAt, sql`${dbNow} - ${ttlMs}`));
  });
}

/** A stopping instance leaves the list at once instead of after the TTL. */
export async function deregisterInstance(database: Database, id: string): Promise<void> {
  await database.write((tx) => tx.delete(instances).where(eq(instances.id, id)));
}

/** The URLs of the instances seen within the TTL, each once, in instance-id order (every agent gets the same list). */
export async function liveInstanceUrls(db: Reader, ttlMs: number): Promise<string[]> {
  const rows = await db
    .select({ url: instances.url })
    .from(instances)
    .where(gt(instances.seenAt, sql`${dbNow} - ${ttlMs}`))
    .orderBy(instances.id);
  return [...new Set(rows.map((r) => r.url))];
}

/** Keeps a Node instance's row alive while it serves; a failed renewal is logged and tried again. */
export class InstanceRegistration {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly deps: { database: Database; log: Logger; config: { instanceId: string; instances: { ttlMs: number; renewMs: number } } },
    private readonly url: string,
  ) {}

  start(): void {
    void this.renew();
    this.timer = setInterval(() => void this.renew(), this.deps.config.instances.renewMs);
  }

  private async renew() {
    const { database, config, log } = this.deps;
    try {
      await registerInstance(database, config.instanceId, this.url, config.instances.ttlMs);
    } catch (err) {
      log.error('instance registration failed; agents may not learn this instance', { error: err });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await deregisterInstance(this.deps.database, this.deps.config.instanceId).catch(() => undefined);
  }
}
