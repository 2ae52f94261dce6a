/**
 * TLS facts of a connection, computed once per socket (not per request) and shared by every
 * adapter that reads them.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { describeClientCertificate } from '../tls/client-cert.js';
import type { ScrapeRequest } from '../core/request.js';

const cache = new WeakMap<object, NonNullable<ScrapeRequest['tls']>>();

function isTlsSocket(socket: Socket | TLSSocket | undefined): socket is TLSSocket {
  return socket !== undefined && (socket as TLSSocket).encrypted === true && typeof (socket as TLSSocket).getPeerX509Certificate === 'function';
}

/** The request's TLS facts, or undefined for a plain-text connection. */
export function tlsInfoOf(socket: Socket | TLSSocket | undefined): ScrapeRequest['tls'] {
  if (!isTlsSocket(socket)) return undefined;
  let info = cache.get(socket);
  if (!info) {
    const x509 = socket.getPeerX509Certificate();
    const client = x509 ? describeClientCertificate(x509) : undefined;
    info = {
      protocol: socket.getProtocol() ?? 'unknown',
      ...(client ? { clientCertificate: client } : {}),
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
