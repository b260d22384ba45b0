import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../control-plane/db/open.ts';
import type { Database } from '../../control-plane/db/database.ts';
import { KeyedSlots } from '../../control-plane/fair-share/keyed-slots.ts';

/**
 * The queues of one process hand over in a later event-loop turn: with libSQL's synchronous file
 * driver a queue that handed over by promise drained in one task, and no other request was read
 * until it was empty (bench/README.md, "Why one or two requests stalled"). Here a timer set when
 * the queue starts stands in for another tenant's request: it must run before the queue is done.
 */
async function waitersBeforeATimer(queue: (step: () => void) => Array<Promise<unknown>>): Promise<{ before: number; total: number }> {
  let done = 0;
  let atTimer: number | undefined;
  setTimeout(() => (atTimer = done), 0);
  const all = queue(() => done++);
  await Promise.all(all);
  return { before: atTimer ?? done, total: all.length };
}

describe('queues yield to the event loop between waiters', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openDatabase(`file:${join(mkdtempSync(join(tmpdir(), 'swarmlet-turns-')), 'db.sqlite')}`);
  });
  afterAll(() => database?.close());

  it('KeyedSlots: 50 queued holders of one slot let a timer run before the last', async () => {
    const slots = new KeyedSlots(1);
    const { before, total } = await waitersBeforeATimer((step) =>
      Array.from({ length: 50 }, () => slots.run('cluster', async () => step())),
    );
    expect(before).toBeLessThan(total);
  });

  it('Database.write: 50 queued write transactions on the file driver let a timer run before the last', async () => {
    await database.write((tx) => tx.run(sql`create table if not exists turns (n integer)`));
    const { before, total } = await waitersBeforeATimer((step) =>
      Array.from({ length: 50 }, (_, i) =>
        database.write(async (tx) => {
          await tx.run(sql`insert into turns (n) values (${i})`);
          step();
        }),
      ),
    );
    expect(before).toBeLessThan(total);
    expect((await database.client.execute('select count(*) as n from turns')).rows[0]!.n).toBe(50);
  });
});
