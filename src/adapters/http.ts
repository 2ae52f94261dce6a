/**
 * node:http / node:https / node:http2 (compat API) adapter: converts the request into a
 * `ScrapeRequest`, runs the core, writes the `ScrapeResponse` back. Nothing else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { ScrapeHandler } from '../core/handle.js';
import type { ScrapeRequest } from '../core/request.js';
import type { Logger } from '../log.js';
import { remoteAddressOf, tlsInfoOf } from './tls-info.js';

/** A request handler for `http.createServer`, `https.createServer` and `http2` compat servers. */
export type NodeRequestHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

/** The transport socket of a request (for HTTP/2, the session's TLS socket). */
function socketOf(req: IncomingMessage | Http2ServerRequest): Socket {
  const stream = (req as Http2ServerRequest).stream as { session?: { socket?: Socket } } | undefined;
  return stream?.session?.socket ?? (req.socket as Socket);
}

/** Converts a node request into the core's neutral request. */
export function toScrapeRequest(req: IncomingMessage | Http2ServerRequest): ScrapeRequest {
  const socket = socketOf(req);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const tls = tlsInfoOf(socket);
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: q < 0 ? url : url.slice(0, q),
    headers: req.headers,
    remoteAddress: remoteAddressOf(socket),
    ...(tls ? { tls } : {}),
  };
}

/**
 * Wraps a core handler as a node request handler.
 * @example
 * http.createServer(toNodeHandler(guard.handle, logger)).listen(9100);
 */
export function toNodeHandler(handle: ScrapeHandler, logger: Logger): NodeRequestHandler {
  return (req, res) => {
    handle(toScrapeRequest(req)).then(
      (out) => {
        (res as ServerResponse).writeHead(out.status, out.headers);
        res.end(out.body);
      },
      (error: unknown) => {
        logger.error('request failed', { error: error instanceof Error ? error.message : String(error) });
        if (!res.headersSent) (res as ServerResponse).writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Internal Server Error\n');
      },
    );
  };
}
