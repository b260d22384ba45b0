import { isObject, isStringMap } from '../json-guards.ts';
import { withDockerKeys } from './spec-keys.ts';
import type { SwarmSpec } from '../db/schema/index.ts';
import { invalid } from '../errors.ts';

/** SwarmSpec's numeric fields by section; the CLI decodes them into Go integers. */
const SWARM_SPEC_NUMBERS: Record<string, string[]> = {
  Orchestration: ['TaskHistoryRetentionLimit'],
  Raft: ['SnapshotInterval', 'KeepOldSnapshots', 'LogEntriesForSlowFollowers', 'ElectionTick', 'HeartbeatTick'],
  Dispatcher: ['HeartbeatPeriod'],
  CAConfig: ['NodeCertExpiry', 'ForceRotate'],
  TaskDefaults: [],
  EncryptionConfig: [],
};

/**
 * The swarm spec is stored whole and read back by every `docker info` and `docker swarm
 * join-token`: a field of the wrong type would make the CLI fail to decode it from then on.
 */
export function validateSwarmSpec(posted: Record<string, unknown>): SwarmSpec {
  const spec = withDockerKeys('SwarmSpec', posted);
  if (spec.Name !== undefined && typeof spec.Name !== 'string') throw invalid('Name must be a string');
  if (spec.Labels !== undefined && spec.Labels !== null && !isStringMap(spec.Labels)) {
    throw invalid('Labels must map strings to strings');
  }
  for (const [section, numbers] of Object.entries(SWARM_SPEC_NUMBERS)) {
    const value = spec[section];
    if (value === undefined || value === null) continue;
    if (!isObject(value)) throw invalid(`${section} must be an object`);
    for (const key of numbers) {
      const n = value[key];
      if (n !== undefined && n !== null && (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)) {
        throw invalid(`${section}.${key} must be a non-negative integer, got ${JSON.stringify(n)}`);
      }
    }
  }
  const autoLock = isObject(spec.EncryptionConfig) ? spec.EncryptionConfig.AutoLockManagers : undefined;
  if (autoLock !== undefined && typeof autoLock !== 'boolean') throw invalid('EncryptionConfig.AutoLockManagers must be true or false');
  // Checked above: the sections are objects and their numbers non-negative integers.
  return spec as SwarmSpec;
}

/**
 * `docker swarm ca --rotate` (a new ForceRotate, or a CA of the user's): the cluster CA is pinned
 * in every join token and agent, and this control plane cannot roll it yet. Said at once, rather
 * than accepted and left for the CLI to wait on forever.
 */
export function refuseCaRotation(spec: SwarmSpec, current: SwarmSpec) {
  const ca = isObject(spec.CAConfig) ? spec.CAConfig : {};
  const was = isObject(current.CAConfig) ? current.CAConfig : {};
  const external = Array.isArray(ca.ExternalCAs) && ca.ExternalCAs.length > 0;
  if ((ca.ForceRotate ?? 0) !== (was.ForceRotate ?? 0) || ca.SigningCACert || ca.SigningCAKey || external) {
    throw invalid('rotating the cluster CA is not supported: the CA in $DATA_DIR/tls is pinned by every join token and agent; `docker swarm ca` shows it');
  }
}
