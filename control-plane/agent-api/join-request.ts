/**
 * What a joining (or rejoining) agent says about its host, checked before any of it is stored.
 * Everything here comes from the node, so nothing is trusted: each field is bounded, text that
 * reaches `docker node ls` carries no control characters, and `addr` (which every other node's
 * WireGuard and routing mesh will connect to) is an address a peer may use.
 */
import { isObject } from '../json-guards.ts';
import { invalid } from '../errors.ts';
import type { NodeDescription } from '../../protocol/agent-api.ts';

export const NODE_LIMITS = {
  hostname: 253,
  platform: 64,
  engineVersion: 128,
  labels: 100,
  labelKey: 128,
  labelValue: 512,
} as const;

/** What admitNode stores: the node's description, its agent's `labels` folded into the engine labels. */
export type JoiningNode = NodeDescription & { engineLabels: Record<string, string> };

// C0 and C1 controls (ESC and CSI start ANSI sequences; CR/LF forge lines), DEL, and the Unicode
// line separators and bidirectional overrides that reorder what a terminal shows.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const PLATFORM = /^[A-Za-z0-9._-]+$/;

function boundedText(field: string, v: unknown, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw invalid(`node.${field} must be a string of 1 to ${max} characters`);
  if (CONTROL.test(v)) throw invalid(`node.${field} must not contain control characters`);
  return v;
}

function platformText(field: string, v: unknown, max: number): string {
  const text = boundedText(field, v, max);
  if (!PLATFORM.test(text)) throw invalid(`node.${field} ${JSON.stringify(text)} may only hold letters, digits, '.', '_' and '-'`);
  return text;
}

function count(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`node.${field} must be a non-negative integer`);
  return v;
}

function labelMap(field: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalid(`node.${field} must map strings to strings`);
  const entries = Object.entries(v);
  if (entries.length > NODE_LIMITS.labels) throw invalid(`node.${field} has ${entries.length} labels; at most ${NODE_LIMITS.labels} are allowed`);
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw invalid(`node.${field} must map strings to strings`);
    if (key.length === 0 || key.length > NODE_LIMITS.labelKey || CONTROL.test(key)) {
      throw invalid(`node.${field}: a label key must be 1 to ${NODE_LIMITS.labelKey} characters without control characters`);
    }
    if (value.length > NODE_LIMITS.labelValue || CONTROL.test(value)) {
      throw invalid(`node.${field}: label ${JSON.stringify(key)} must be at most ${NODE_LIMITS.labelValue} characters without control characters`);
    }
  }
  return v as Record<string, string>;
}

/** A WireGuard (X25519) public key: exactly 32 bytes, in canonical base64. */
function wireguardKey(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const ok = typeof v === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(v) && btoa(atob(v)) === v;
  if (!ok) throw invalid('node.wireguardPublicKey must be a base64 X25519 public key (32 bytes)');
  return v;
}

/** An IPv4 address as four decimal bytes (no leading zeros, which some parsers read as octal). */
function ipv4Bytes(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.map(Number);
}

/** An IPv6 address as eight 16-bit groups (`::` and a trailing dotted IPv4 allowed; no zone). */
function ipv6Groups(s: string): number[] | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s) || s.split('::').length > 2) return undefined;
  const parse = (side: string): number[] | undefined => {
    if (side === '') return [];
    const out: number[] = [];
    const pieces = side.split(':');
    for (const [i, p] of pieces.entries()) {
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = ipv4Bytes(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const [head, tail] = s.split('::') as [string, string | undefined];
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  if (!left || !right) return undefined;
  if (tail === undefined) return left.length === 8 ? left : undefined;
  const zeros = 8 - left.length - right.length;
  return zeros >= 1 ? [...left, ...new Array<number>(zeros).fill(0), ...right] : undefined;
}

type AddressKind = 'usable' | 'loopback' | 'link-local' | 'unspecified' | 'multicast' | 'broadcast';

function ipv4Kind([a, b, c, d]: number[]): AddressKind {
  if (a === 0) return 'unspecified'; // 0.0.0.0/8: "this network", never a peer's address
  if (a === 127) return 'loopback';
  if (a === 169 && b === 254) return 'link-local';
  if (a! >= 224 && a! <= 239) return 'multicast';
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'broadcast';
  return 'usable';
}

function ipv6Kind(g: number[]): AddressKind {
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(5) && g[5] === 0xffff) return ipv4Kind([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255]); // ::ffff:a.b.c.d
  if (zeroUpTo(7) && g[7] === 0) return 'unspecified';
  if (zeroUpTo(7) && g[7] === 1) return 'loopback';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  return 'usable';
}

/** What kind of IP address `s` is, or undefined when it is not an IP address. */
export function addressKind(s: string): AddressKind | undefined {
  const v4 = ipv4Bytes(s);
  if (v4) return ipv4Kind(v4);
  const v6 = ipv6Groups(s);
  return v6 ? ipv6Kind(v6) : undefined;
}

/**
 * The node's address, as Docker's NodeStatus.Addr has it: an IP, never a hostname (each peer would
 * resolve a name for itself, and to anything). Loopback only in a local cluster, where every agent
 * runs on the control plane's machine.
 */
function nodeAddr(v: unknown, loopbackAllowed: boolean): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 45) throw invalid('node.addr must be the IP address of the node');
  const kind = addressKind(v);
  if (!kind) throw invalid(`node.addr ${JSON.stringify(v)} is not an IP address: give the node's IPv4 or IPv6 address (--advertise-addr)`);
  if (kind === 'loopback' && loopbackAllowed) return v;
  if (kind === 'loopback') {
    throw invalid(`node.addr ${v} is a loopback address, which other nodes cannot reach: give an address of the node they can (--advertise-addr)`);
  }
  if (kind !== 'usable') throw invalid(`node.addr ${v} is a ${kind} address, which other nodes cannot reach: give an address of the node they can (--advertise-addr)`);
  return v;
}

/** Whether a cluster is local: its join tokens send agents to a loopback URL, so they all run on this machine. */
export function isLocalUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || addressKind(host) === 'loopback';
}

/** Checks a join's `node`; labels an agent sends are engine labels, never the operator's node labels. */
export function validateJoiningNode(node: unknown, opts: { loopbackAllowed: boolean }): JoiningNode {
  if (!isObject(node)) throw invalid('node description is required');
  const hostname = boundedText('hostname', node.hostname, NODE_LIMITS.hostname);
  if (!HOSTNAME.test(hostname)) {
    throw invalid(`node.hostname ${JSON.stringify(hostname)} may only hold letters, digits, '.', '_' and '-', and must start and end with a letter or digit`);
  }
  const engineLabels = { ...labelMap('engineLabels', node.engineLabels), ...labelMap('labels', node.labels) };
  const labelCount = Object.keys(engineLabels).length;
  if (labelCount > NODE_LIMITS.labels) throw invalid(`node.labels and node.engineLabels hold ${labelCount} labels together; at most ${NODE_LIMITS.labels} are allowed`);
  return {
    hostname,
    nanoCpus: count('nanoCpus', node.nanoCpus),
    memoryBytes: count('memoryBytes', node.memoryBytes),
    os: platformText('os', node.os, NODE_LIMITS.platform),
    arch: platformText('arch', node.arch, NODE_LIMITS.platform),
    engineVersion: boundedText('engineVersion', node.engineVersion, NODE_LIMITS.engineVersion),
    addr: nodeAddr(node.addr, opts.loopbackAllowed),
    wireguardPublicKey: wireguardKey(node.wireguardPublicKey),
    engineLabels,
  };
}
