/**
 * TLS facts of a connection, computed once per socket (not per request) and shared by every
 * adapter that reads them.
 */
import type { Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { describeClientCertificate, type ClientCertificateInfo } from '../tls/client-cert.js';
import type { ScrapeRequest } from '../core/request.js';

const cache = new WeakMap<object, NonNullable<ScrapeRequest['tls']>>();

function isTlsSocket(socket: Socket | TLSSocket | undefined): socket is TLSSocket {
  return socket !== undefined && (socket as TLSSocket).encrypted === true && typeof (socket as TLSSocket).getPeerX509Certificate === 'function';
}

/**
 * Sockets of scrapeguard's own server: their handshake was verified against the client CA of the
 * generation that accepted them, so "verified" is taken from the socket. Any other socket belongs
 * to an application server whose trust store is not the config's, and the guard verifies the
 * presented chain itself.
 */
const ownSockets = new WeakMap<object, { readonly client: ClientCertificateInfo | undefined }>();

/**
 * Marks a socket accepted by the guard's own TLS server, with the client certificate facts the
 * server read at the handshake (so requests on it do not parse the certificate again).
 */
export function markOwnSocket(socket: TLSSocket, client: ClientCertificateInfo | undefined): void {
  ownSockets.set(socket, { client });
}

/**
 * The peer's certificates, leaf first: what it presented (plus issuers OpenSSL found). Read with
 * ONE `getPeerCertificate(true)` call and before any other peer-certificate call on the socket:
 * Node hands out the presented chain only once per server-side connection.
 */
function x509Chain(socket: TLSSocket): X509Certificate[] {
  let node: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  if (!node?.raw) return [];
  const chain = [new X509Certificate(node.raw)];
  const seen = new Set<string>([node.fingerprint256]);
  // Each certificate links to its issuer; a self-signed one links to itself.
  for (let depth = 0; depth < 8 && node?.issuerCertificate && node.issuerCertificate !== node; depth++) {
    node = node.issuerCertificate;
    if (!node.raw || seen.has(node.fingerprint256)) break;
    seen.add(node.fingerprint256);
    chain.push(new X509Certificate(node.raw));
  }
  return chain;
}

/** The request's TLS facts, or undefined for a plain-text connection. */
export function tlsInfoOf(socket: Socket | TLSSocket | undefined): ScrapeRequest['tls'] {
  if (!isTlsSocket(socket)) return undefined;
  let info = cache.get(socket);
  if (!info) {
    const own = ownSockets.get(socket);
    const chain = own ? [] : x509Chain(socket);
    const leaf = chain[0];
    const client = own ? own.client : leaf ? describeClientCertificate(leaf) : undefined;
    info = {
      protocol: socket.getProtocol() ?? 'unknown',
      ...(client ? { clientCertificate: client } : {}),
      ...(client && !own ? { peerCertificates: chain } : {}),
      clientCertificateVerified: client !== undefined && socket.authorized,
    };
    cache.set(socket, info);
  }
  return info;
}

/**
 * The client address a PROXY protocol header named for a connection of the standalone server.
 * A symbol property, not a WeakMap: HTTP/2 exposes the session's socket through a Proxy object,
 * which passes property reads (symbols included) on to the socket but has an identity of its own.
 * Only the server sets it, after reading the header from a trusted proxy; a socket of an
 * application's own server never carries it.
 */
const ORIGINAL_ADDRESS = Symbol('scrapeguard.originalAddress');

/** Records the client address a trusted proxy's PROXY header gave for `socket`. */
export function setOriginalAddress(socket: Socket, address: string): void {
  Object.defineProperty(socket, ORIGINAL_ADDRESS, { value: address, enumerable: false, writable: false, configurable: false });
}

/**
 * Peer address without the IPv4-mapped prefix (`::ffff:127.0.0.1` → `127.0.0.1`); on a connection
 * that came through a trusted PROXY-protocol proxy, the client address the proxy named.
 */
export function remoteAddressOf(socket: Socket | undefined): string {
  const original = (socket as { [ORIGINAL_ADDRESS]?: unknown } | undefined)?.[ORIGINAL_ADDRESS];
  if (typeof original === 'string') return original;
  const address = socket?.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
