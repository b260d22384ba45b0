import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliSession, startCliSession } from './cli-session.ts';

/** `docker swarm init` with its options, through the real CLI: honoured, or refused with the reason. */
let s: CliSession;
beforeAll(async () => {
  s = await startCliSession();
});
afterAll(() => s.cp.stop());

describe('docker swarm init options', () => {
  it('--autolock and --force-new-cluster are refused with the reason, and the swarm stays uninitialised', async () => {
    for (const flag of ['--autolock', '--force-new-cluster']) {
      const r = await s.cli('swarm', 'init', flag);
      expect(r.code, flag).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`Error response from daemon: ${flag} is not supported`));
    }
    expect((await s.cli('node', 'ls')).stderr).toMatch(/not a swarm manager/);
  });

  it('--default-addr-pool, --default-addr-pool-mask-length, --data-path-port and --task-history-limit are kept', async () => {
    await s.ok('swarm', 'init', '--default-addr-pool', '10.20.0.0/16', '--default-addr-pool-mask-length', '26', '--data-path-port', '7000', '--task-history-limit', '2');
    const info = JSON.parse(await s.ok('info', '--format', '{{json .Swarm.Cluster}}'));
    expect(info).toMatchObject({ DefaultAddrPool: ['10.20.0.0/16'], SubnetSize: 26, DataPathPort: 7000, Spec: { Orchestration: { TaskHistoryRetentionLimit: 2 } } });
  });
});
