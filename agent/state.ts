import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SavedControlPlanes } from './instances.ts';

/** What the agent keeps between runs: who it is in which cluster, and how it proves it. */
export interface NodeIdentity {
  nodeId: string;
  clusterId: string;
  controlPlaneUrl: string;
  credential: string;
  credentialExpiresAt: number;
  /** Kept so a node whose credential expired while it was off can rejoin as itself. */
  joinToken?: string;
}

export interface WireguardKeys {
  /** base64 of the 32 raw key bytes, as `wg` prints them. */
  privateKey: string;
  publicKey: string;
}

const IDENTITY_FILE = 'node.json';
const CONTROL_PLANES_FILE = 'control-planes.json';
const WIREGUARD_FILE = 'wireguard.key';
const CA_FILE = 'ca.pem';
// PKCS#8 wrapping of a raw X25519 private key (RFC 8410).
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

const fromBase64Url = (s: string) => Buffer.from(s, 'base64url').toString('base64');

export function generateWireguardKeys(): WireguardKeys {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    privateKey: fromBase64Url(privateKey.export({ format: 'jwk' }).d!),
    publicKey: fromBase64Url(publicKey.export({ format: 'jwk' }).x!),
  };
}

export function wireguardPublicKey(privateKeyBase64: string): string {
  const raw = Buffer.from(privateKeyBase64, 'base64');
  if (raw.length !== 32) throw new Error('wireguard private key must be 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  return fromBase64Url(createPublicKey(key).export({ format: 'jwk' }).x!);
}

/** The state directory: mode 0700, every file 0600, each written whole (temp file + rename). */
export class StateDir {
  constructor(readonly dir: string) {}

  ensure() {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  private write(name: string, content: string) {
    this.ensure();
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, content, { mode: 0o600 });
    renameSync(tmp, join(this.dir, name));
  }

  private read(name: string): string | undefined {
    const path = join(this.dir, name);
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  }

  readIdentity(): NodeIdentity | undefined {
    const raw = this.read(IDENTITY_FILE);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as NodeIdentity;
    } catch (err) {
      throw new Error(`state file ${join(this.dir, IDENTITY_FILE)} is corrupt (${(err as Error).message}); remove it and join again`);
    }
  }

  saveIdentity(identity: NodeIdentity) {
    this.write(IDENTITY_FILE, JSON.stringify(identity, null, 2) + '\n');
  }

  /** The control-plane instances last learnt and the one in use; undefined when none were saved or the file is unreadable. */
  readControlPlanes(): SavedControlPlanes | undefined {
    try {
      const saved = JSON.parse(this.read(CONTROL_PLANES_FILE) ?? 'null') as SavedControlPlanes | null;
      return saved && typeof saved.current === 'string' && Array.isArray(saved.live) ? saved : undefined;
    } catch {
      // Only a hint: the join URL still works as a start.
      return undefined;
    }
  }

  saveControlPlanes(saved: SavedControlPlanes) {
    this.write(CONTROL_PLANES_FILE, JSON.stringify(saved, null, 2) + '\n');
  }

  /** The cluster CA the join token pinned: the only one the agent trusts for the control plane. */
  readCa(): string | undefined {
    return this.read(CA_FILE);
  }

  saveCa(pem: string) {
    this.write(CA_FILE, pem);
  }

  /** The private key's file (0600), for `wg set … private-key <file>`: the key itself is never passed around. */
  wireguardKeyFile(): string {
    this.wireguardKeys();
    return join(this.dir, WIREGUARD_FILE);
  }

  /** The host's WireGuard key pair; made once, the private key never leaves this directory. */
  wireguardKeys(): WireguardKeys {
    const saved = this.read(WIREGUARD_FILE)?.trim();
    if (saved) return { privateKey: saved, publicKey: wireguardPublicKey(saved) };
    const keys = generateWireguardKeys();
    this.write(WIREGUARD_FILE, keys.privateKey + '\n');
    return keys;
  }
}
