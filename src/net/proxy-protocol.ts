/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2), read by the standalone server on a
 * listener that opts in: an L4 load balancer (HAProxy `send-proxy-v2`, AWS NLB, …) opens the TCP
 * connection and first sends one header naming the client's address, then the client's bytes.
 *
 * Deliberately small and strict: only what a TCP listener needs is accepted — v1 `TCP4`, `TCP6`
 * and `UNKNOWN`; v2 `LOCAL`, and `PROXY` over `AF_INET`/`AF_INET6` `STREAM` (or `AF_UNSPEC`,
 * read like v1 `UNKNOWN`). Anything else (UDP, UNIX sockets, bad spacing, leading zeros, a port
 * above 65535, a v2 block whose TLVs overrun it) is invalid, and the connection is closed. The
 * header is bounded: 107 bytes for v1 (the spec's maximum), {@link MAX_V2_HEADER_BYTES} for v2.
 * TLVs are checked for framing and otherwise ignored.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { formatIpv6, unmapIpv4 } from './networks.js';

/** v2's 12-byte signature. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The spec's longest v1 line, CRLF included. */
export const MAX_V1_HEADER_BYTES = 107;
/**
 * Longest v2 header accepted: the 16-byte preamble plus an address block of at most this much.
 * The addresses take 36 bytes; the rest is TLVs (load balancers add an id or two, HAProxy's SSL
 * details a few hundred bytes).
 */
export const MAX_V2_HEADER_BYTES = 16 + 1024;

/** What a header says about the connection. */
export type ProxyHeader =
  /** A proxied TCP connection: the client's address and port, and the address it connected to. */
  | {
      readonly command: 'proxy';
      readonly version: 1 | 2;
      readonly source: string;
      readonly sourcePort: number;
      readonly destination: string;
      readonly destinationPort: number;
    }
  /** v2 `LOCAL` (the proxy's own connection, e.g. a health check) or v1 `UNKNOWN` / v2 `AF_UNSPEC`: use the real peer. */
  | { readonly command: 'local'; readonly version: 1 | 2 };

/** Result of {@link parseProxyHeader} on the bytes received so far. */
export type ProxyParse =
  | { readonly status: 'incomplete' }
  /** The bytes do not start with a PROXY signature: the peer sent none. */
  | { readonly status: 'absent' }
  | { readonly status: 'invalid'; readonly reason: string }
  | { readonly status: 'ok'; readonly header: ProxyHeader; /** Bytes the header took; the rest is the client's. */ readonly length: number };

/**
 * Whether `data` starts with a PROXY header signature (v1 `PROXY ` or v2's 12 bytes). Used on
 * peers that may not send one, to refuse them with a precise reason.
 */
export function startsWithProxySignature(data: Buffer): boolean {
  return (
    (data.length >= V1_PREFIX.length && data.subarray(0, V1_PREFIX.length).equals(V1_PREFIX)) ||
    (data.length >= V2_SIGNATURE.length && data.subarray(0, V2_SIGNATURE.length).equals(V2_SIGNATURE))
  );
}

/** Whether `data` (possibly short) could still become a PROXY header. */
function couldBeSignature(data: Buffer): boolean {
  const n = Math.min(data.length, V2_SIGNATURE.length);
  return (
    data.subarray(0, Math.min(n, V1_PREFIX.length)).equals(V1_PREFIX.subarray(0, Math.min(n, V1_PREFIX.length))) ||
    data.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))
  );
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function port(text: string): number | undefined {
  if (!PORT.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV1(data: Buffer): ProxyParse {
  const end = data.indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    if (data.length >= MAX_V1_HEADER_BYTES) return { status: 'invalid', reason: 'v1 header longer than 107 bytes' };
    // A lone CR not followed by LF, or any byte outside printable ASCII, is already wrong.
    for (const byte of data) if (byte !== 0x0d && (byte < 0x20 || byte > 0x7e)) return { status: 'invalid', reason: 'v1 header has a non-printable byte' };
    return { status: 'incomplete' };
  }
  const length = end + 2;
  if (length > MAX_V1_HEADER_BYTES) return { status: 'invalid', reason: 'v1 header longer than 107 bytes' };
  const line = data.toString('latin1', 0, end);
  if (!/^[\x20-\x7e]*$/.test(line)) return { status: 'invalid', reason: 'v1 header has a non-printable byte' };
  const fields = line.split(' ');
  if (fields[1] === 'UNKNOWN') return { status: 'ok', header: { command: 'local', version: 1 }, length };
  if (fields.length !== 6) return { status: 'invalid', reason: 'v1 header must be "PROXY TCP4|TCP6 SRC DST SPORT DPORT"' };
  const [, proto, src = '', dst = '', sp = '', dp = ''] = fields;
  const isFamily = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined;
  if (!isFamily) return { status: 'invalid', reason: `v1 protocol ${JSON.stringify(proto?.slice(0, 16))} is not TCP4, TCP6 or UNKNOWN` };
  // isIPv6 accepts zone ids (`fe80::1%eth0`): not an address a proxy can forward.
  if (!isFamily(src) || !isFamily(dst) || src.includes('%') || dst.includes('%'))
    return { status: 'invalid', reason: `v1 addresses are not ${proto} addresses` };
  const sourcePort = port(sp);
  const destinationPort = port(dp);
  if (sourcePort === undefined || destinationPort === undefined) return { status: 'invalid', reason: 'v1 ports must be decimal numbers from 0 to 65535' };
  return { status: 'ok', header: { command: 'proxy', version: 1, source: unmapIpv4(src), sourcePort, destination: unmapIpv4(dst), destinationPort }, length };
}

function parseV2(data: Buffer): ProxyParse {
  if (data.length < 16) return { status: 'incomplete' };
  const verCmd = data[12]!;
  const famProto = data[13]!;
  const blockLength = data.readUInt16BE(14);
  const length = 16 + blockLength;
  if (verCmd >> 4 !== 2) return { status: 'invalid', reason: `v2 version nibble ${verCmd >> 4} is not 2` };
  const command = verCmd & 0x0f;
  if (command > 1) return { status: 'invalid', reason: `v2 command ${command} is neither LOCAL (0) nor PROXY (1)` };
  if (length > MAX_V2_HEADER_BYTES) return { status: 'invalid', reason: `v2 header of ${length} bytes exceeds ${MAX_V2_HEADER_BYTES}` };
  if (data.length < length) return { status: 'incomplete' };
  if (command === 0) return { status: 'ok', header: { command: 'local', version: 2 }, length };
  let addressBytes: number;
  if (famProto === 0x00) return { status: 'ok', header: { command: 'local', version: 2 }, length };
  if (famProto === 0x11) addressBytes = 12;
  else if (famProto === 0x21) addressBytes = 36;
  else return { status: 'invalid', reason: `v2 address family/protocol 0x${famProto.toString(16).padStart(2, '0')} is not TCP over IPv4 or IPv6` };
  if (blockLength < addressBytes) return { status: 'invalid', reason: 'v2 address block shorter than its addresses' };
  // TLVs after the addresses: type (1), length (2), value; they must tile the rest exactly.
  for (let at = 16 + addressBytes; at < length;) {
    if (at + 3 > length) return { status: 'invalid', reason: 'v2 TLV overruns the header' };
    at += 3 + data.readUInt16BE(at + 1);
    if (at > length) return { status: 'invalid', reason: 'v2 TLV overruns the header' };
  }
  let source: string;
  let destination: string;
  let ports: number;
  if (famProto === 0x11) {
    source = Array.from(data.subarray(16, 20)).join('.');
    destination = Array.from(data.subarray(20, 24)).join('.');
    ports = 24;
  } else {
    source = unmapIpv4(formatIpv6(data.subarray(16, 32)));
    destination = unmapIpv4(formatIpv6(data.subarray(32, 48)));
    ports = 48;
  }
  return {
    status: 'ok',
    header: { command: 'proxy', version: 2, source, sourcePort: data.readUInt16BE(ports), destination, destinationPort: data.readUInt16BE(ports + 2) },
    length,
  };
}

/**
 * Parses a PROXY header at the start of `data` (all bytes received so far).
 * @example
 * parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 51000 9443\r\n'));
 * // { status: 'ok', header: { command: 'proxy', version: 1, source: '192.0.2.7', … }, length: 44 }
 */
export function parseProxyHeader(data: Buffer): ProxyParse {
  if (!couldBeSignature(data)) return { status: 'absent' };
  if (data.length < V1_PREFIX.length) return { status: 'incomplete' };
  if (data[0] === 0x50) return parseV1(data);
  if (data.length < V2_SIGNATURE.length) return { status: 'incomplete' };
  return parseV2(data);
}
