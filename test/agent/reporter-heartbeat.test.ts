import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlaneClient } from '../../agent/client.ts';
import { StatusReporter } from '../../agent/reporter.ts';
import type { Logger } from '../../protocol/log.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

/**
 * The control plane takes any request of a node's as its heartbeat, so swarm-agent sends an empty
 * status request only when nothing else went out for half a period: with its long-polls coming
 * round (they ask for half a period at most) it needs one connection, not a second one opened for
 * each heartbeat. A control plane that counts what it is sent stands in for the real one here; the
 * real agent's liveness against the real control plane is the multi-host harness's.
 */
describe('StatusReporter heartbeats', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  async function countingControlPlane() {
    const sent = { status: 0, assignments: 0 };
    const server = createServer((req, res) => {
      const poll = req.url?.startsWith('/agent/v1/assignments');
      if (poll) sent.assignments++;
      else sent.status++;
      const body = poll ? { index: 2, nodeId: 'n1', heartbeatPeriodMs: 400, tasks: [] } : { results: [] };
      // A long-poll is held for its wait (150 ms here), as the control plane holds one with no news.
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)), poll ? 150 : 0);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new ControlPlaneClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { log: quiet });
    client.credential = 'node-credential';
    const reporter = new StatusReporter({ client, log: quiet, heartbeatMs: 400, onRefused() {}, isFatal: () => false });
    stops.push(async () => {
      await reporter.stop();
      await client.close();
      await new Promise((r) => server.close(r));
    });
    return { sent, client, reporter };
  }

  it('beats every half period when nothing else goes out', async () => {
    const { sent, reporter } = await countingControlPlane();
    reporter.start();
    await new Promise((r) => setTimeout(r, 1300));
    // 200 ms apart: six in 1.3 s.
    expect(sent.status).toBeGreaterThanOrEqual(5);
  });

  it('sends no heartbeat while long-polls come round within half a period', async () => {
    const { sent, client, reporter } = await countingControlPlane();
    let polling = true;
    const polls = (async () => {
      while (polling) await client.assignments(2, 150);
    })();
    reporter.start();
    await new Promise((r) => setTimeout(r, 1300));
    polling = false;
    await polls;
    expect(sent.assignments).toBeGreaterThanOrEqual(6);
    // At most the first, sent before any poll had gone out.
    expect(sent.status).toBeLessThanOrEqual(1);
  });
});
