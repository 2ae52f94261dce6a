/**
 * TLS facts of a connection, computed once per socket (not per request) and shared by every
 * adapter that reads them.
 */
import type { Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { describeClientCertificate } from '../tls/client-cert.js';
import type { ScrapeRequest } from '../core/request.js';

const cache = new WeakMap<object, NonNullable<ScrapeRequest['tls']>>();

function isTlsSocket(socket: Socket | TLSSocket | undefined): socket is TLSSocket {
  return socket !== undefined && (socket as TLSSocket).encrypted === true && typeof (socket as TLSSocket).getPeerX509Certificate === 'function';
}

/** The peer's certificates, leaf first: what it presented (and, once verified, the issuers OpenSSL found). */
function x509Chain(socket: TLSSocket): X509Certificate[] {
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return [];
  const chain = [leaf];
  // The detailed form links each certificate to its issuer; a self-signed one links to itself.
  let node: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>([leaf.fingerprint256]);
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
    const chain = x509Chain(socket);
    const client = chain[0] ? describeClientCertificate(chain[0]) : undefined;
    info = {
      protocol: socket.getProtocol() ?? 'unknown',
      ...(client ? { clientCertificate: client, peerCertificates: chain } : {}),
      clientCertificateVerified: client !== undefined && socket.authorized,
    };
    cache.set(socket, info);
  }
  return info;
}

/** Peer address without the IPv4-mapped prefix (`::ffff:127.0.0.1` → `127.0.0.1`). */
export function remoteAddressOf(socket: Socket | undefined): string {
  const address = socket?.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
