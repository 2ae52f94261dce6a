/**
 * The framework-free core: one `ScrapeRequest` in, one `ScrapeResponse` out. Order of checks:
 * rate limits (global, then per client) → TLS client-certificate policy → authentication →
 * routing (telemetry path, GET/HEAD) → source. Configured security headers go on every response,
 * as exporter-toolkit does. The core never calls back into an adapter.
 */
import { STATUS_CODES } from 'node:http';
import type { ResolvedConfig } from '../config/schema.js';
import type { BasicAuthenticator } from '../auth/basic.js';
import { parseBasicAuthorization } from '../auth/basic.js';
import type { Logger } from '../log.js';
import type { MetricsSource } from '../exposition/source.js';
import type { SelfMetrics, AuthFailureReason } from '../metrics/self.js';
import type { ClientCertificatePolicy } from '../tls/server-options.js';
import { KeyedRateLimiter, TokenBucket, retryAfterSeconds } from './rate-limit.js';
import type { ScrapeRequest, ScrapeResponse } from './request.js';

/** One generation of the configuration with everything compiled from it. */
export interface GuardState {
  readonly config: ResolvedConfig;
  /** `http_server_config.headers` with lower-case names (so they merge with the defaults below), built once. */
  readonly responseHeaders: Readonly<Record<string, string>>;
  readonly basicAuth?: BasicAuthenticator;
  readonly clientCertificatePolicy?: ClientCertificatePolicy;
  readonly globalLimit?: TokenBucket;
  readonly clientLimit?: KeyedRateLimiter;
}

/** Fixed parts of the core, set once per guard. */
export interface CoreOptions {
  telemetryPath: string;
  source: MetricsSource;
  logger: Logger;
  metrics: SelfMetrics;
  /** Realm in `WWW-Authenticate` (default `metrics`). */
  realm?: string;
  now?: () => number;
}

/** A scrape handler over the current state (read at the start of each request). */
export type ScrapeHandler = (request: ScrapeRequest) => Promise<ScrapeResponse>;

function headerValue(headers: ScrapeRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Builds the core handler.
 * @param currentState returns the state to use for a request; reloads swap what it returns.
 */
export function createScrapeHandler(options: CoreOptions, currentState: () => GuardState): ScrapeHandler {
  const { telemetryPath, source, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const challenge = `Basic realm="${options.realm ?? 'metrics'}"`;

  return async (request) => {
    const state = currentState();
    const base = state.responseHeaders;
    const reply = (status: number, extra: Record<string, string> = {}, body?: string): ScrapeResponse => {
      metrics.request(status);
      return {
        status,
        headers: { ...base, 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...extra },
        body: request.method === 'HEAD' ? '' : (body ?? `${STATUS_CODES[status] ?? 'Error'}\n`),
      };
    };

    const t = now();
    const global = state.globalLimit?.take(t);
    if (global && !global.ok) {
      metrics.rateLimited('global');
      return reply(429, { 'retry-after': retryAfterSeconds(global.retryAfterMs) });
    }
    const perClient = state.clientLimit?.take(request.remoteAddress, t);
    if (perClient && !perClient.ok) {
      metrics.rateLimited('client');
      return reply(429, { 'retry-after': retryAfterSeconds(perClient.retryAfterMs) });
    }

    if (state.config.tls) {
      // The standalone server already enforced this at the handshake; adapters mounted on other
      // servers may not have, so the core holds every request to the same rules.
      if (!request.tls) {
        logger.warn('refused request that did not arrive over TLS', { remote: request.remoteAddress });
        return reply(421, {}, 'This endpoint requires TLS.\n');
      }
      const verdict = state.clientCertificatePolicy?.(request.tls.clientCertificate, request.tls.clientCertificateVerified);
      if (verdict && !verdict.ok) {
        logger.warn('refused request by client certificate policy', { remote: request.remoteAddress, reason: verdict.detail });
        return reply(403);
      }
    }

    if (state.basicAuth && state.basicAuth.userCount > 0) {
      const header = headerValue(request.headers, 'authorization');
      const credentials = parseBasicAuthorization(header);
      let failure: AuthFailureReason | undefined;
      if (!credentials) failure = header ? 'malformed' : 'missing';
      else {
        const result = await state.basicAuth.verify(credentials.user, credentials.password);
        if (result === 'busy') {
          metrics.authFailure('busy');
          logger.warn('authentication queue full; refusing request', { remote: request.remoteAddress });
          return reply(429, { 'retry-after': '1' });
        }
        if (result !== 'ok') failure = result;
      }
      if (failure) {
        metrics.authFailure(failure);
        // Same answer for every failure: nothing tells an unknown user from a wrong password.
        logger.debug('authentication failed', { remote: request.remoteAddress, reason: failure });
        return reply(401, { 'www-authenticate': challenge });
      }
    }

    if (request.path !== telemetryPath) return reply(404, {}, '404 page not found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, { allow: 'GET, HEAD' });

    let exposition;
    try {
      exposition = await source();
    } catch (error) {
      // Fail closed: a source failure is logged (without the body) and answered with 500.
      logger.error('metrics source failed', { error: error instanceof Error ? error.message : String(error) });
      return reply(500);
    }
    metrics.request(200);
    const body = request.method === 'HEAD' ? '' : exposition.body;
    return {
      status: 200,
      headers: {
        ...base,
        'content-type': exposition.contentType,
        'content-length': String(Buffer.byteLength(exposition.body)),
      },
      body,
    };
  };
}
