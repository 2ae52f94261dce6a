/**
 * node:http / node:https / node:http2 (compat API) adapter — the `scrapeguard/http` entry:
 * converts the request into a `ScrapeRequest` (socket facts only: peer address, TLS, the
 * certificate chain the client presented), runs the guard, writes the `ScrapeResponse` back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { ScrapeHandler } from '../core/handle.js';
import type { ScrapeResponse } from '../core/request.js';
import { plainReply } from '../core/reply.js';
import type { Logger } from '../log.js';
import { mountPath, routedScrape, type MountableGuard, type MountOptions } from './mount.js';
import { pathOf, toScrapeRequest } from './node-request.js';
import { writeNodeResponse } from './node-response.js';
import { METRICS_HANDLER_OPTIONS } from '../api-options.js';

export type { MountableGuard, MountOptions } from './mount.js';
export { toScrapeRequest } from './node-request.js';

/** A request handler for `http.createServer`, `https.createServer` and `http2` compat servers. */
export type NodeRequestHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

const NOT_FOUND: ScrapeResponse = plainReply({ status: 404, body: '404 page not found\n' });

/**
 * The application a {@link metricsHandler} passes other paths to: a handler written for
 * node:http(s) (`(req: IncomingMessage, res: ServerResponse)`), for http2's compat API, or for
 * both. Which one a server calls it with is the server's kind, as it would be without the guard.
 */
export type ApplicationHandler =
  NodeRequestHandler | ((req: IncomingMessage, res: ServerResponse) => void) | ((req: Http2ServerRequest, res: Http2ServerResponse) => void);

/** Options of {@link metricsHandler}. */
export interface MetricsHandlerOptions extends MountOptions {
  /**
   * Handler for every other path (the application). Absent: they are answered `404`. Any
   * node:http, node:https or http2-compat handler fits (an express app too): it is called with the
   * request and response of the server the handler is mounted on.
   */
  next?: ApplicationHandler;
}

/**
 * A `(req, res)` handler serving a guard on a node:http, node:https or node:http2 (compat) server
 * you run. Requests for `path` (default the guard's `telemetryPath`) are scrapes; others go to
 * `options.next`, or are answered `404` when there is none. Over TLS, the peer certificate is
 * read from the request's socket: create the server with `requestCert: true` (and
 * `rejectUnauthorized: false` if the same port serves clients without certificates) so the guard
 * can apply the config's `client_auth_type`.
 * @example
 * import https from 'node:https';
 * import { metricsHandler } from 'scrapeguard/http';
 *
 * const metrics = metricsHandler(guard, { next: app });
 * https.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: false }, metrics).listen(8443);
 */
export function metricsHandler(guard: MountableGuard, options: MetricsHandlerOptions = {}): NodeRequestHandler {
  const path = mountPath('metricsHandler', guard, options, METRICS_HANDLER_OPTIONS);
  const next = options.next;
  if (next !== undefined && typeof next !== 'function') throw new TypeError('metricsHandler: next must be a (req, res) handler');
  return (req, res) => {
    if (pathOf(req.url) === path) {
      // handle() never rejects; a write that throws (headers already sent) ends the exchange.
      guard
        .handle(routedScrape(req, guard))
        .then((out) => writeNodeResponse(res, out))
        .catch(() => res.destroy());
      // The server this handler is mounted on decides the request kind, and `next` was written for it.
    } else if (next) (next as NodeRequestHandler)(req, res);
    else writeNodeResponse(res, NOT_FOUND);
  };
}

/**
 * Wraps a core handler as a node request handler (low level: {@link metricsHandler} is the
 * adapter for a guard).
 * @example
 * http.createServer(toNodeHandler(guard.handle, logger)).listen(9100);
 */
export function toNodeHandler(handle: ScrapeHandler, logger: Logger): NodeRequestHandler {
  return (req, res) => {
    // One catch for the handler and the write-back: a header value Node refuses to write must end
    // this exchange, never become an unhandled rejection that takes the process down.
    handle(toScrapeRequest(req))
      .then((out) => writeNodeResponse(res, out))
      .catch((error: unknown) => {
        logger.error('request failed', { error: error instanceof Error ? error.message : String(error) });
        if (res.headersSent) {
          res.destroy();
          return;
        }
        try {
          writeNodeResponse(res, plainReply({ status: 500 }));
        } catch {
          res.destroy();
        }
      });
  };
}
