/**
 * express 4 and 5 adapter — the `scrapeguard/express` entry. A middleware that answers scrapes on
 * its path and calls `next()` for everything else; the response is written straight to node's
 * `res` (no ETag, no `res.send` rewriting of the content type). express is imported as types only.
 */
import type { RequestHandler } from 'express';
import type { ServerResponse } from 'node:http';
import { writeNodeResponse } from './node-response.js';
import { mountPath, routedScrape, type MountableGuard, type MountOptions } from './mount.js';
import { pathOf } from './node-request.js';

export type { MountableGuard, MountOptions } from './mount.js';

/**
 * Serves a guard inside an express app. Mount it anywhere (`app.use(...)`, a router, or
 * `app.get(path, ...)`): it matches the request's original URL (before routers strip a prefix)
 * against `path` (default: the guard's `telemetryPath`) and passes other requests on with `next()`.
 * @example
 * import express from 'express';
 * import { expressMetrics } from 'scrapeguard/express';
 *
 * const app = express();
 * app.use(expressMetrics(guard));
 */
export function expressMetrics(guard: MountableGuard, options: MountOptions = {}): RequestHandler {
  const path = mountPath('expressMetrics', guard, options);
  return (req, res, next) => {
    if (pathOf(req.originalUrl ?? req.url) !== path) return next();
    // handle() never rejects; writing can (headers already sent by an earlier middleware): express's error path.
    guard
      .handle(routedScrape(req, guard))
      .then((out) => writeNodeResponse(res as ServerResponse, out))
      .catch(next);
  };
}
