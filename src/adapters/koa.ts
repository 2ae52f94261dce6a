/**
 * koa 2 and 3 adapter — the `scrapeguard/koa` entry. A middleware that answers scrapes on its path
 * through koa's own response (so upstream middleware sees the status) and awaits `next()` for
 * everything else. koa is imported as types only.
 */
import type { Middleware } from 'koa';
import { mountPath, routedScrape, type MountableGuard, type MountOptions } from './mount.js';
import { pathOf } from './node-request.js';

export type { MountableGuard, MountOptions } from './mount.js';

/**
 * Serves a guard inside a koa app. Matches the original URL (before koa-mount or a router strips a
 * prefix) against `path` (default: the guard's `telemetryPath`); other requests go on to `next()`.
 * @example
 * import Koa from 'koa';
 * import { koaMetrics } from 'scrapeguard/koa';
 *
 * const app = new Koa();
 * app.use(koaMetrics(guard));
 */
export function koaMetrics(guard: MountableGuard, options: MountOptions = {}): Middleware {
  const path = mountPath('koaMetrics', guard, options);
  return async (ctx, next) => {
    if (pathOf(ctx.originalUrl) !== path) {
      await next();
      return;
    }
    const out = await guard.handle(routedScrape(ctx.req, guard));
    ctx.status = out.status;
    ctx.body = out.body;
    // After the body: koa infers Content-Type and Content-Length from it, the core's values win
    // (for HEAD the body is empty but Content-Length is the GET body's, as RFC 9110 §9.3.2 allows).
    ctx.set(out.headers);
  };
}
