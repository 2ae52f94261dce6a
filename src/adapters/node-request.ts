/**
 * A node request (node:http, node:https, node:http2 compat — and so express, koa and fastify, which
 * all sit on one) as the core's neutral request: method, path, headers, and the socket's own facts
 * (peer address, TLS, the peer certificate and whether the TLS layer verified it). Nothing comes
 * from headers here; forwarded identity is the guard's `trustedProxies` business.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { ScrapeRequest } from '../core/request.js';
import { remoteAddressOf, tlsInfoOf } from './tls-info.js';

/** The path part of a request target (no query string). */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The transport socket of a request (for HTTP/2, the session's TLS socket). */
function socketOf(req: IncomingMessage | Http2ServerRequest): Socket {
  const stream = (req as Http2ServerRequest).stream as { session?: { socket?: Socket } } | undefined;
  return stream?.session?.socket ?? req.socket;
}

/**
 * Converts a node request into the core's neutral request.
 * @param path the path to give the core (default: the request's own, without the query string).
 */
export function toScrapeRequest(req: IncomingMessage | Http2ServerRequest, path?: string): ScrapeRequest {
  const socket = socketOf(req);
  const tls = tlsInfoOf(socket);
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: path ?? pathOf(req.url),
    headers: req.headers,
    remoteAddress: remoteAddressOf(socket),
    ...(tls ? { tls } : {}),
  };
}
