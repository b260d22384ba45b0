/**
 * `docker swarm init`'s request (InitRequest), honoured where it means something here and refused,
 * saying why, where it cannot: never silently dropped. The control plane has no Raft, no manager
 * keys to lock and no listening socket of its own choosing per swarm.
 */
import { isObject } from '../json-guards.ts';
import { type DataPathSettings, DEFAULT_DATA_PATH, type SwarmSpec } from '../db/schema/index.ts';
import { invalid } from '../errors.ts';
import { withDockerKeys } from './spec-keys.ts';
import { validateSwarmSpec } from './validate-swarm.ts';

export interface SwarmInit {
  spec: SwarmSpec;
  dataPath: DataPathSettings;
  /** `--advertise-addr`, as posted; the route turns it into the URL agents use. */
  advertiseAddr: unknown;
}

/** What the CLI sends when a flag is not given: accepted whatever this control plane does. */
const CLI_LISTEN_DEFAULT = '0.0.0.0:2377';

const isZero = (v: unknown) => v === undefined || v === null || v === 0 || v === '' || v === false;

/** A posted spec over the defaults, as swarmkit fills them: a zero value (the CLI sends many) keeps the default. */
function overDefaults(defaults: Record<string, unknown>, posted: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(posted)) {
    const base = defaults[key];
    if (isObject(value) && isObject(base) && key !== 'Labels') out[key] = overDefaults(base, value);
    else if (!isZero(value) && !(Array.isArray(value) && value.length === 0)) out[key] = value;
  }
  return out;
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function addrPool(value: unknown, subnetSize: number): string[] {
  if (isZero(value) || (Array.isArray(value) && value.length === 0)) return DEFAULT_DATA_PATH.DefaultAddrPool;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid('DefaultAddrPool must be a list of CIDR strings');
  for (const cidr of value) {
    const m = IPV4_CIDR.exec(cidr);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw invalid(`invalid DefaultAddrPool entry ${JSON.stringify(cidr)}: expected an IPv4 CIDR such as 10.20.0.0/16`);
    if (Number(m[5]) > subnetSize) throw invalid(`DefaultAddrPool entry ${cidr} is smaller than a /${subnetSize} subnet (SubnetSize)`);
  }
  return value;
}

function dataPathOf(body: Record<string, unknown>): DataPathSettings {
  const { SubnetSize: size, DataPathPort: port } = body;
  if (!isZero(size) && (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 29)) {
    throw invalid(`invalid SubnetSize ${JSON.stringify(size)}: expected 1 to 29`);
  }
  if (!isZero(port) && (typeof port !== 'number' || !Number.isInteger(port) || port < 1024 || port > 49151)) {
    throw invalid(`invalid DataPathPort ${JSON.stringify(port)}: expected 1024 to 49151 (the mesh's WireGuard UDP port)`);
  }
  const subnetSize = typeof size === 'number' && size > 0 ? size : DEFAULT_DATA_PATH.SubnetSize;
  return {
    DefaultAddrPool: addrPool(body.DefaultAddrPool, subnetSize),
    SubnetSize: subnetSize,
    DataPathPort: typeof port === 'number' && port > 0 ? port : DEFAULT_DATA_PATH.DataPathPort,
  };
}

/** Checks an InitRequest; `defaults` is the cluster's spec before init. */
export function parseSwarmInit(posted: Record<string, unknown>, defaults: SwarmSpec): SwarmInit {
  const body = withDockerKeys('SwarmInitRequest', posted);
  if (!isZero(body.ForceNewCluster)) throw invalid('--force-new-cluster is not supported: there is no Raft log to recover; the database is the one copy of the state');
  if (!isZero(body.AutoLockManagers) || (isObject(body.Spec) && isObject(body.Spec.EncryptionConfig) && !isZero(body.Spec.EncryptionConfig.AutoLockManagers))) {
    throw invalid('--autolock is not supported: the control plane keeps no manager keys on a node to lock');
  }
  if (!isZero(body.ListenAddr) && body.ListenAddr !== CLI_LISTEN_DEFAULT) {
    throw invalid(`--listen-addr is not supported here: the control plane listens where HOST and PORT say; agents reach it at --advertise-addr (got ${JSON.stringify(body.ListenAddr)})`);
  }
  if (!isZero(body.DataPathAddr)) throw invalid('--data-path-addr is set per host: pass --advertise-addr to each swarm-agent');
  const specBody = body.Spec === undefined || body.Spec === null ? {} : body.Spec;
  if (!isObject(specBody)) throw invalid('Spec must be an object');
  const ca = specBody.CAConfig;
  if (isObject(ca) && ((Array.isArray(ca.ExternalCAs) && ca.ExternalCAs.length > 0) || !isZero(ca.SigningCACert) || !isZero(ca.SigningCAKey))) {
    throw invalid('external or custom CAs are not supported: agents authenticate with credentials the control plane signs');
  }
  const spec = validateSwarmSpec(overDefaults(defaults, specBody));
  return { spec, dataPath: dataPathOf(body), advertiseAddr: body.AdvertiseAddr };
}
