/**
 * Network ranges: the `allowed_networks` list of web-config.yml and the `networks` condition of an
 * access rule. A range is written as CIDR (`10.0.0.0/8`, `fd00::/8`) or as one address (`/32` or
 * `/128`). Parsing is strict, because a typo here silently opens or closes access: bits set past
 * the prefix (`10.0.0.1/8`), zone ids (`fe80::1%eth0`) and prefixes out of range are errors.
 *
 * IPv4 clients arrive either as `a.b.c.d` or, on a dual-stack socket, as the IPv4-mapped IPv6
 * address `::ffff:a.b.c.d`: both are matched against the IPv4 ranges. An IPv4-mapped range in the
 * list (`::ffff:10.0.0.0/104`) is read as the IPv4 range it maps (`10.0.0.0/8`), so one rule
 * covers both spellings of a client.
 */
import { BlockList, isIP } from 'node:net';

/** One parsed range, normalised (host bits clear; IPv4-mapped ranges as IPv4). */
export interface NetworkRange {
  /** `ipv4` or `ipv6`. */
  readonly family: 'ipv4' | 'ipv6';
  /** Network address in its canonical text form. */
  readonly address: string;
  readonly prefix: number;
  /** `address/prefix`, for messages and digests. */
  readonly cidr: string;
}

/** The result of {@link parseNetwork}: a range, or why the text is not one. */
export type ParsedNetwork = { readonly ok: true; readonly range: NetworkRange } | { readonly ok: false; readonly message: string };

/** The 16 bytes of an IPv6 address (also with an embedded IPv4 tail); undefined when not one. */
export function ipv6Bytes(text: string): Uint8Array | undefined {
  if (isIP(text) !== 6 || text.includes('%')) return undefined;
  let head = text;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    for (const part of last.split('.')) tail.push(Number(part));
    // The groups before the IPv4 tail: `::1.2.3.4` → `::`, `1:2:3:4:5:6:1.2.3.4` → `1:2:3:4:5:6`.
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = tail.length > 0 ? 6 : 8;
  const [left = '', right] = head.split('::');
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const fill = right === undefined ? 0 : groupsWanted - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...Array<string>(fill).fill('0'), ...rightGroups];
  if (groups.length !== groupsWanted) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  tail.forEach((v, i) => (bytes[12 + i] = v));
  return bytes;
}

/** Canonical (RFC 5952) text of 16 IPv6 bytes: lower case, longest run of zero groups as `::`. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** `::ffff:a.b.c.d` (any spelling) → `a.b.c.d`; any other address unchanged. */
export function unmapIpv4(address: string): string {
  if (isIP(address) !== 6) return address;
  const b = ipv6Bytes(address);
  if (!b || !isMapped(b)) return address;
  return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
}

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Parses one range: `ADDRESS/PREFIX` or a single `ADDRESS`.
 * @example
 * parseNetwork('10.0.0.0/8');          // { ok: true, range: { family: 'ipv4', cidr: '10.0.0.0/8', … } }
 * parseNetwork('::ffff:10.0.0.0/104'); // read as 10.0.0.0/8
 * parseNetwork('10.0.0.1/8');          // { ok: false, message: '… did you mean "10.0.0.0/8"?' }
 */
export function parseNetwork(text: string): ParsedNetwork {
  const shown = JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
  const parts = text.split('/');
  if (parts.length > 2) return { ok: false, message: `${shown} is not an IP address or CIDR range` };
  const [ip = '', bits] = parts;
  if (ip.includes('%')) return { ok: false, message: `${shown}: zone ids (%…) are not allowed in a network range` };
  const family = isIP(ip);
  if (family === 0) return { ok: false, message: `${shown} is not an IP address or CIDR range (write 10.0.0.0/8, 192.168.1.7 or fd00::/8)` };
  const maxBits = family === 4 ? 32 : 128;
  let prefix = maxBits;
  if (bits !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(bits) || Number(bits) > maxBits) {
      return { ok: false, message: `${shown}: the prefix length must be a whole number from 0 to ${maxBits}` };
    }
    prefix = Number(bits);
  }
  let bytes: Uint8Array;
  let v6 = family === 6;
  if (family === 4) bytes = Uint8Array.from(ip.split('.').map(Number));
  else {
    const b = ipv6Bytes(ip);
    if (!b) return { ok: false, message: `${shown} is not an IP address or CIDR range` };
    bytes = b;
    if (isMapped(b)) {
      if (prefix < 96) return { ok: false, message: `${shown} mixes IPv4-mapped and other IPv6 addresses; write the IPv4 range (e.g. 10.0.0.0/8) instead` };
      bytes = b.slice(12);
      prefix -= 96;
      v6 = false;
    }
  }
  const net = masked(bytes, prefix);
  const text4or6 = (b: Uint8Array) => (v6 ? formatIpv6(b) : Array.from(b).join('.'));
  const cidr = `${text4or6(net)}/${prefix}`;
  if (!same(net, bytes)) {
    return {
      ok: false,
      message: `${shown} has address bits set past the /${bits ?? prefix} prefix; did you mean ${JSON.stringify(bits !== undefined && v6 === (family === 6) ? `${text4or6(net)}/${bits}` : cidr)}?`,
    };
  }
  return { ok: true, range: { family: v6 ? 'ipv6' : 'ipv4', address: text4or6(net), prefix, cidr } };
}

/** A compiled set of ranges: one `BlockList` lookup per check. */
export interface NetworkMatcher {
  /** Whether `address` (IPv4, IPv6 or IPv4-mapped IPv6) lies in one of the ranges; false for anything else. */
  contains(address: string): boolean;
  /** The ranges, normalised (for logs). */
  readonly ranges: readonly string[];
}

/**
 * Compiles normalised ranges (as {@link parseNetwork} returns them) for matching.
 * @throws TypeError when an entry is not a valid range (the config validator reports those first).
 */
export function compileNetworks(cidrs: readonly string[]): NetworkMatcher {
  // One list per family: Node's BlockList would also match IPv4 addresses against IPv6 ranges
  // (`::/0` would admit every IPv4 client); here an IPv6 range means IPv6 clients only.
  const v4 = new BlockList();
  const v6 = new BlockList();
  for (const cidr of cidrs) {
    const parsed = parseNetwork(cidr);
    if (!parsed.ok) throw new TypeError(parsed.message);
    (parsed.range.family === 'ipv4' ? v4 : v6).addSubnet(parsed.range.address, parsed.range.prefix, parsed.range.family);
  }
  return {
    ranges: [...cidrs],
    contains(address: string): boolean {
      const family = isIP(address);
      if (family === 4) return v4.check(address, 'ipv4');
      if (family !== 6) return false;
      const unmapped = /ffff/i.test(address) ? unmapIpv4(address) : address;
      return unmapped === address ? v6.check(address, 'ipv6') : v4.check(unmapped, 'ipv4');
    },
  };
}
