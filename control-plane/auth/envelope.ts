import { base64url } from 'jose';
import { ApiError } from '../errors.ts';

/**
 * Envelope encryption of small secrets at rest: AES-256-GCM under a key-encryption key (KEK) that
 * never enters the database. An envelope is `swe1.<kek id>.<iv>.<ciphertext>` (base64url), and its
 * header and a caller-chosen context (e.g. `signing-key:<cluster id>`) are authenticated data: a
 * sealed value copied to another row, or to another purpose, does not open. Cluster signing keys
 * use it today; Docker secrets can use it as is, with their own context.
 */
const FORMAT = 'swe1';

/**
 * The configured KEKs: `current` seals, every one opens. Rotation adds a new current key and keeps
 * the old one until every envelope has been sealed again with the new one.
 */
export interface KeyRing {
  currentId: string;
  keys: ReadonlyMap<string, CryptoKey>;
}

// No Buffer: this runs on Workers too.
const b64url = (bytes: Uint8Array) => base64url.encode(bytes);
const fromB64url = (text: string) => new Uint8Array(base64url.decode(text));
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const utf8 = new TextEncoder();

/** Standard or url alphabet, padded or not; anything else decodes to no bytes. */
function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  try {
    return fromB64url(text.trim().replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
  } catch {
    return new Uint8Array();
  }
}

/** A KEK's id is derived from the key, so an operator never names keys and two ids never collide. */
async function kekId(raw: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array([...utf8.encode('swarmlet-kek-id:'), ...raw])));
  return `kek-${hex(digest.subarray(0, 6))}`;
}

/**
 * Builds the key ring from base64 keys (standard or url alphabet), the current one first. Each must
 * be 32 random bytes, e.g. from `openssl rand -base64 32`.
 */
export async function keyRingFrom(encodedKeys: string[]): Promise<KeyRing> {
  if (!encodedKeys.length) throw new Error('no key-encryption key configured: set KEK to 32 random bytes in base64 (openssl rand -base64 32)');
  const keys = new Map<string, CryptoKey>();
  let currentId = '';
  for (const [i, encoded] of encodedKeys.entries()) {
    const raw = fromBase64(encoded);
    if (raw.length !== 32) {
      throw new Error(`key-encryption key #${i + 1} must be 32 random bytes in base64 (openssl rand -base64 32), got ${raw.length} bytes`);
    }
    const id = await kekId(raw);
    keys.set(id, await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']));
    if (i === 0) currentId = id;
  }
  return { currentId, keys };
}

/** A new random KEK, base64, as the Node control plane writes it to its key file at first start. */
export function newKek(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}

const additionalData = (header: string, context: string) => utf8.encode(`${header}|${context}`);

/** Seals `plaintext` with the current KEK; `context` must be given again to open it. */
export async function seal(ring: KeyRing, plaintext: Uint8Array, context: string): Promise<string> {
  const key = ring.keys.get(ring.currentId)!;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const header = `${FORMAT}.${ring.currentId}`;
  const ciphertext = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: additionalData(header, context) }, key, new Uint8Array(plaintext));
  return `${header}.${b64url(iv)}.${b64url(new Uint8Array(ciphertext))}`;
}

/** The id of the KEK that sealed an envelope; undefined for anything that is not one. */
export function sealedWith(envelope: string): string | undefined {
  const parts = envelope.split('.');
  return parts.length === 4 && parts[0] === FORMAT ? parts[1] : undefined;
}

/**
 * Opens an envelope sealed by any KEK of the ring. A failure is the operator's to fix (a missing
 * previous KEK, or a tampered row), never the client's: an internal error that says which.
 */
export async function open(ring: KeyRing, envelope: string, context: string): Promise<Uint8Array> {
  const id = sealedWith(envelope);
  if (!id) throw new ApiError('internal', `${context}: stored value is not a sealed envelope`);
  const key = ring.keys.get(id);
  if (!key) {
    throw new ApiError('internal', `${context}: sealed with key-encryption key ${id}, which is not configured; add it back to KEK (or the kek file) after the current key`);
  }
  const [, , iv, ciphertext] = envelope.split('.');
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: fromB64url(iv!), additionalData: additionalData(`${FORMAT}.${id}`, context) },
      key,
      fromB64url(ciphertext!),
    );
    return new Uint8Array(plaintext);
  } catch {
    throw new ApiError('internal', `${context}: sealed value does not open with key-encryption key ${id} (altered, or moved from another row)`);
  }
}
