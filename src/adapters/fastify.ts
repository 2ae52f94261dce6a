/**
 * fastify 4 and 5 adapter — the `scrapeguard/fastify` entry. A plugin that registers one route
 * at `path` (honouring a `prefix` given to `register`) for the methods the core answers, so `405`
 * and `Allow` come from the core as for every other adapter. fastify is imported as types only; the
 * plugin carries fastify-plugin's metadata (name, supported fastify versions) without depending on it.
 */
import type { FastifyPluginCallback, HTTPMethods } from 'fastify';
import { mountPath, routedScrape, type MountableGuard, type MountOptions } from './mount.js';
import { checkOptions } from '../options.js';
import { FASTIFY_METRICS_OPTIONS, FASTIFY_REGISTER_KEYS } from '../api-options.js';

export type { MountableGuard, MountOptions } from './mount.js';

/** Options of {@link fastifyMetrics}. */
export interface FastifyMetricsOptions extends MountOptions {
  /** The guard to serve (from `createGuard`). */
  guard: MountableGuard;
}

const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'];

/**
 * Serves a guard inside a fastify app. Requests for other paths never reach it (fastify routes).
 * @example
 * import Fastify from 'fastify';
 * import { fastifyMetrics } from 'scrapeguard/fastify';
 *
 * const app = Fastify({ https: { cert, key, ca, requestCert: true, rejectUnauthorized: false } });
 * await app.register(fastifyMetrics, { guard });
 */
export const fastifyMetrics: FastifyPluginCallback<FastifyMetricsOptions> = (fastify, options, done) => {
  let guard: MountableGuard;
  let path: string;
  try {
    // Checked before the guard is read, so a missing or misspelled `guard` is named as such.
    checkOptions('fastifyMetrics', options, FASTIFY_METRICS_OPTIONS, { foreign: FASTIFY_REGISTER_KEYS });
    guard = options.guard;
    path = mountPath('fastifyMetrics', guard, options, FASTIFY_METRICS_OPTIONS, FASTIFY_REGISTER_KEYS);
  } catch (error) {
    // A callback plugin reports through done(): a throw would escape fastify's boot as an uncaught exception.
    done(error as Error);
    return;
  }
  fastify.route({
    method: METHODS,
    url: path,
    // HEAD is listed explicitly; fastify must not add a second one.
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const out = await guard.handle(routedScrape(request.raw, guard));
      // fastify keeps a Content-Length set for HEAD and recomputes it for other bodies only when it differs.
      return reply.code(out.status).headers(out.headers).send(out.body);
    },
  });
  done();
};

Object.assign(fastifyMetrics, {
  [Symbol.for('fastify.display-name')]: 'scrapeguard',
  [Symbol.for('plugin-meta')]: { name: 'scrapeguard', fastify: '4.x || 5.x' },
});
