/**
 * The framework-free core: one `ScrapeRequest` in, one `ScrapeResponse` out. Stages, in order:
 * 1. limits: rate limits (global, then per client);
 * 2. transport: TLS and the client-certificate policy;
 * 3. authentication (`auth/authenticate.ts`) → principal;
 * 4. routing: telemetry path, GET/HEAD;
 * 5. authorization: the principal's view of the metrics (`access/`);
 * 6. exposition (`exposition/pipeline.ts`): source → filter → redact → render.
 * Configured security headers go on every response, as exporter-toolkit does. The core never calls
 * back into an adapter.
 */
import { STATUS_CODES } from 'node:http';
import type { ResolvedConfig } from '../config/schema.js';
import { authenticate, type Authenticators } from '../auth/authenticate.js';
import type { Logger } from '../log.js';
import type { ExpositionPipeline } from '../exposition/pipeline.js';
import { SourceError } from '../exposition/failure.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { ClientCertificatePolicy } from '../tls/server-options.js';
import { KeyedRateLimiter, TokenBucket, retryAfterSeconds } from './rate-limit.js';
import type { ScrapeRequest, ScrapeResponse } from './request.js';

/** One generation of the configuration with everything compiled from it. */
export interface GuardState {
  readonly config: ResolvedConfig;
  /** `http_server_config.headers` with lower-case names (so they merge with the defaults below), built once. */
  readonly responseHeaders: Readonly<Record<string, string>>;
  /** The authentication methods this config enables. */
  readonly authenticators: Authenticators;
  /** The exposition pass of this config (its redaction rules). */
  readonly expose: ExpositionPipeline;
  readonly clientCertificatePolicy?: ClientCertificatePolicy;
  readonly globalLimit?: TokenBucket;
  readonly clientLimit?: KeyedRateLimiter;
}

/** Fixed parts of the core, set once per guard. */
export interface CoreOptions {
  telemetryPath: string;
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
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Builds the core handler.
 * @param currentState returns the state to use for a request; reloads swap what it returns.
 */
export function createScrapeHandler(options: CoreOptions, currentState: () => GuardState): ScrapeHandler {
  const { telemetryPath, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const authContext = { realm: options.realm ?? 'metrics', logger, metrics };

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

    const auth = await authenticate(request, state.authenticators, authContext);
    if (!auth.ok) return reply(auth.status, { ...auth.headers });

    if (request.path !== telemetryPath) return reply(404, {}, '404 page not found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, { allow: 'GET, HEAD' });

    let exposition;
    try {
      const accept = headerValue(request.headers, 'accept');
      const acceptEncoding = headerValue(request.headers, 'accept-encoding');
      exposition = await state.expose({
        ...(accept !== undefined ? { accept } : {}),
        ...(acceptEncoding !== undefined ? { acceptEncoding } : {}),
      });
    } catch (error) {
      // Fail closed: a source failure is logged (without the body) and answered with 500, or 502
      // when the source is an upstream exporter.
      logger.error('metrics source failed', { error: error instanceof Error ? error.message : String(error) });
      return reply(error instanceof SourceError ? error.status : 500);
    }
    metrics.request(200);
    const body = request.method === 'HEAD' ? '' : exposition.body;
    return {
      status: 200,
      headers: {
        ...base,
        'content-type': exposition.contentType,
        ...(exposition.contentEncoding ? { 'content-encoding': exposition.contentEncoding, vary: 'Accept-Encoding' } : {}),
        'content-length': String(typeof exposition.body === 'string' ? Buffer.byteLength(exposition.body) : exposition.body.length),
      },
      body,
    };
  };
}
