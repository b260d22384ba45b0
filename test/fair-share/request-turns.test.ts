import { describe, expect, it } from 'vitest';
import { RequestTurns } from '../../control-plane/fair-share/request-turns.ts';

/**
 * Requests start in turns round the principals that sent them (RequestTurns): one credential's
 * crowd, read in one poll of the event loop, must not run before another's one request.
 */
describe('RequestTurns', () => {
  it("starts a quiet principal's one request after at most one of a flood queued before it", async () => {
    const turns = new RequestTurns();
    const started: string[] = [];
    const flood = Array.from({ length: 200 }, (_, i) => turns.take('flood').then(() => started.push(`flood-${i}`)));
    const quiet = turns.take('quiet').then(() => started.push('quiet'));
    await Promise.all([...flood, quiet]);
    expect(started.indexOf('quiet')).toBeLessThanOrEqual(1);
    // Each principal's own requests keep their order.
    expect(started.filter((s) => s !== 'quiet')).toEqual(Array.from({ length: 200 }, (_, i) => `flood-${i}`));
  });

  it('starts one request per turn of the event loop: a timer set before a crowd of 100 runs before its last starts', async () => {
    const turns = new RequestTurns();
    let startedAtTimer: number | undefined;
    let started = 0;
    setTimeout(() => (startedAtTimer = started), 0);
    const crowd = Array.from({ length: 100 }, () => turns.take('crowd').then(() => started++));
    await Promise.all(crowd);
    expect(startedAtTimer).toBeLessThan(100);
  });

  it('goes round three principals in turn', async () => {
    const turns = new RequestTurns();
    const order: string[] = [];
    const all = ['a', 'a', 'a', 'b', 'b', 'c'].map((p) => turns.take(p).then(() => order.push(p)));
    await Promise.all(all);
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'a']);
  });

  it("starts one request of each waiting principal in a turn: a thousand agents' heartbeats wait a few turns, not a thousand", async () => {
    const turns = new RequestTurns(256);
    const startedByTurn: number[] = [];
    let started = 0;
    const turnEnds = () => new Promise<void>((r) => setImmediate(r)).then(() => startedByTurn.push(started));
    const beats = Array.from({ length: 1000 }, (_, i) => turns.take(`node-${i}`).then(() => started++));
    for (let i = 0; i < 5; i++) await turnEnds();
    await Promise.all(beats);
    // 256 a turn: all 1,000 within four turns (one request a turn took a thousand).
    expect(startedByTurn[0]).toBe(256);
    expect(startedByTurn[3]).toBe(1000);
  });

  it('starts up to perPrincipal of one principal a turn (handshakes of one address behind a NAT)', async () => {
    const turns = new RequestTurns(256, 8);
    let started = 0;
    const crowd = Array.from({ length: 20 }, () => turns.take('10.0.0.1').then(() => started++));
    await new Promise<void>((r) => setImmediate(r));
    expect(started).toBe(8);
    await Promise.all(crowd);
    expect(started).toBe(20);
  });
});
