/**
 * IPv4 subnets as numbers: parsing, overlap, and carving a network's subnet out of the cluster's
 * address pool (`docker swarm init --default-addr-pool … --default-addr-pool-mask-length …`).
 */
import { conflict, invalid } from '../errors.ts';

export interface Subnet {
  /** First address, as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/;

function parseAddress(text: string, what: string): { addr: number; prefix: number | undefined } {
  const m = CIDR.exec(text.trim());
  const octets = m ? m.slice(1, 5).map(Number) : [];
  if (!m || octets.some((o) => o > 255) || (m[5] !== undefined && Number(m[5]) > 32)) throw invalid(`invalid ${what} ${JSON.stringify(text)}: expected an IPv4 address${what === 'subnet' ? ' range such as 10.20.0.0/24' : ''}`);
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  return { addr, prefix: m[5] === undefined ? undefined : Number(m[5]) };
}

const size = (prefix: number) => 2 ** (32 - prefix);

export function parseSubnet(text: string): Subnet {
  const { addr, prefix } = parseAddress(text, 'subnet');
  if (prefix === undefined) throw invalid(`invalid subnet ${JSON.stringify(text)}: expected a CIDR such as 10.20.0.0/24`);
  if (prefix > 30) throw invalid(`invalid subnet ${text}: a /${prefix} leaves no room for tasks; use /30 or larger`);
  const base = addr - (addr % size(prefix));
  if (base !== addr) throw invalid(`invalid subnet ${text}: the address is not the start of a /${prefix} (did you mean ${formatAddress(base)}/${prefix}?)`);
  return { base, prefix };
}

export function parseAddressIn(text: string, subnet: Subnet, what: string): number {
  const { addr, prefix } = parseAddress(text, what);
  if (prefix !== undefined) throw invalid(`invalid ${what} ${JSON.stringify(text)}: expected an address without a prefix length`);
  if (!contains(subnet, addr)) throw invalid(`invalid ${what} ${text}: it is outside the subnet ${formatSubnet(subnet)}`);
  return addr;
}

export const formatAddress = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
export const formatSubnet = (s: Subnet) => `${formatAddress(s.base)}/${s.prefix}`;
export const contains = (s: Subnet, addr: number) => addr >= s.base && addr < s.base + size(s.prefix);
export const overlaps = (a: Subnet, b: Subnet) => a.base < b.base + size(b.prefix) && b.base < a.base + size(a.prefix);

/** The first `/subnetSize` of the pools that overlaps none of the subnets in use. */
export function allocateSubnet(pools: string[], subnetSize: number, inUse: Subnet[]): Subnet {
  for (const pool of pools.map(parseSubnet)) {
    const step = size(subnetSize);
    for (let base = pool.base; base + step <= pool.base + size(pool.prefix); base += step) {
      const candidate = { base, prefix: subnetSize };
      if (!inUse.some((s) => overlaps(s, candidate))) return candidate;
    }
  }
  throw conflict(`the cluster's address pool (${pools.join(', ')}) has no free /${subnetSize} left; remove a network or give --subnet`);
}
