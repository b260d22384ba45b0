import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../control-plane/config.ts';

describe('loadConfig', () => {
  it('reads every tunable from the environment, with the documented defaults', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({
      port: 2399,
      rejoinGraceMs: 30 * 24 * 3600_000,
      joinTokenRetentionMs: 24 * 3600_000,
      housekeepingMs: 600_000,
      notifierPollMs: 250,
      heapGrowthPercent: 0,
      logRelay: { requestTtlMs: 90_000, renewEveryMs: 30_000, chunkTtlMs: 120_000, pollMs: 250, taskScanMs: 2_000, idleTimeoutMs: 10_000 },
      log: { format: 'text', debug: false, commits: false },
      tokenMaxTtl: { joinMs: 366 * 24 * 3600_000, nodeCredentialMs: 24 * 3600_000 },
      kek: { keys: [], file: './data/kek' },
      fairShare: {
        apiRequestsPerSec: 100,
        apiBurst: 500,
        apiConcurrentPerCluster: 4,
        nodeRequestsPerSec: 20,
        nodeBurst: 100,
        longPollsPerNode: 4,
        assignmentReadsPerCluster: 4,
        logBytesPerSecPerNode: 2 * 1024 * 1024,
        logBurstBytesPerNode: 8 * 1024 * 1024,
        logChunkMaxBytes: 1024 * 1024,
        logStoredBytesPerCluster: 64 * 1024 * 1024,
        liveJoinTokensPerCluster: 100,
        servicesPerCluster: 1000,
      },
    });
    expect(loadConfig({ HEAP_GROWTH_PERCENT: '25' }).heapGrowthPercent).toBe(25);
    const tuned = loadConfig({ LOG_IDLE_TIMEOUT_MS: '1500', LOG_FORMAT: 'json', LOG_COMMITS: '1', REJOIN_GRACE_MS: '60000' });
    expect(tuned.logRelay.idleTimeoutMs).toBe(1500);
    expect(tuned.log).toEqual({ format: 'json', debug: false, commits: true });
    expect(tuned.rejoinGraceMs).toBe(60_000);
  });

  it('serves TLS under the cluster CA unless told otherwise, explicitly', () => {
    expect(loadConfig({}).tls).toEqual({ mode: 'cluster-ca', dir: './data/tls' });
    expect(loadConfig({ DATA_DIR: '/d', TLS: 'on' }).tls).toEqual({ mode: 'cluster-ca', dir: '/d/tls' });
    expect(loadConfig({ TLS: 'off' }).tls).toEqual({ mode: 'off' });
    expect(loadConfig({ TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' }).tls).toEqual({ mode: 'files', certFile: '/c.pem', keyFile: '/k.pem' });
    expect(() => loadConfig({ TLS: 'no' })).toThrow(/TLS must be on or off/);
    expect(() => loadConfig({ TLS_CERT_FILE: '/c.pem' })).toThrow(/TLS_CERT_FILE and TLS_KEY_FILE go together/);
    expect(() => loadConfig({ TLS: 'off', TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' })).toThrow(/TLS=off contradicts/);
  });

  it('refuses a value it cannot use, naming the variable', () => {
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT must be text or json/);
    expect(() => loadConfig({ LOG_COMMITS: 'maybe' })).toThrow(/LOG_COMMITS/);
    expect(() => loadConfig({ LOG_POLL_MS: '-1' })).toThrow(/LOG_POLL_MS must be a non-negative integer/);
  });
});
