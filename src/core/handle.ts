/**
 * The framework-free core: one `ScrapeRequest` in, one `ScrapeResponse` out. Stages, in order:
 * 1. limits: rate limits (global, then per client);
 * 2. transport: TLS and the client-certificate policy;
 * 3. brute-force backoff (a client held off after failed authentications gets 429 at once);
 * 4. `auth_excluded_paths`: those paths skip authentication (a path other than the telemetry path
 *    answers `200 OK`, as a liveness probe; the telemetry path only when excluded with `force`);
 * 5. authentication (`auth/authenticate.ts`) → principal;
 * 6. routing: telemetry path, GET/HEAD;
 * 7. authorization (`access/rules.ts`): deny → 403; allow → the principal's {@link SeriesFilter};
 * 8. exposition (`exposition/pipeline.ts`): source → filter → redact → render; with
 *    `on_empty: forbid`, a filtered result with no series is a 403.
 * Configured security headers go on every response, as exporter-toolkit does. After the response is
 * built, one audit record is handed to the audit sink (when one is configured). The core never
 * calls back into an adapter.
 */
import { Readable } from 'node:stream';
import type { ResolvedConfig } from '../config/schema.js';
import { authenticate, type Authenticators } from '../auth/authenticate.js';
import { ANONYMOUS, type AuthMethod, type Principal } from '../auth/principal.js';
import type { AccessRules } from '../access/rules.js';
import type { SeriesFilter } from '../access/filter.js';
import type { Logger } from '../log.js';
import type { ExpositionPipeline } from '../exposition/pipeline.js';
import { SourceError } from '../exposition/failure.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { ClientCertificatePolicy } from '../tls/server-options.js';
import type { AuditRecord, AuditSink } from '../audit/audit.js';
import type { AuthFailureBackoff } from './auth-backoff.js';
import { KeyedRateLimiter, TokenBucket, retryAfterSeconds } from './rate-limit.js';
import type { ScrapeRequest, ScrapeResponse } from './request.js';
import { joinedHeader } from './headers.js';
import { plainReply } from './reply.js';
import type { NetworkMatcher } from '../net/networks.js';

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
  /** Brute-force protection (`limits.auth_failure_backoff`). */
  readonly authBackoff?: AuthFailureBackoff;
  /** `auth_excluded_paths`, as a set. */
  readonly excludedPaths?: ReadonlySet<string>;
  /** Compiled `access_rules`; absent: every authenticated caller sees everything. */
  readonly access?: AccessRules;
  /** Compiled `allowed_networks`; absent: every address may connect. */
  readonly allowedNetworks?: NetworkMatcher;
}

/** Fixed parts of the core, set once per guard. */
export interface CoreOptions {
  telemetryPath: string;
  logger: Logger;
  metrics: SelfMetrics;
  /** Realm in `WWW-Authenticate` (default `metrics`). */
  realm?: string;
  now?: () => number;
  /** The audit sink in force (read per request, so reloads can change it); undefined: no audit. */
  audit?: () => AuditSink | undefined;
}

/** A scrape handler over the current state (read at the start of each request). */
export type ScrapeHandler = (request: ScrapeRequest) => Promise<ScrapeResponse>;

/** What the stages learned about one request, for its audit record. */
interface Facts {
  principal?: Principal;
  method?: AuthMethod;
  reason?: string;
  seriesReturned?: number;
  seriesWithheld?: number;
}

/**
 * Builds the core handler.
 * @param currentState returns the state to use for a request; reloads swap what it returns.
 */
export function createScrapeHandler(options: CoreOptions, currentState: () => GuardState): ScrapeHandler {
  const { telemetryPath, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const authContext = { realm: options.realm ?? 'metrics', logger, metrics, now };

  const serve = async (request: ScrapeRequest, state: GuardState, facts: Facts): Promise<ScrapeResponse> => {
    const base = state.responseHeaders;
    const reply = (status: number, extra: Record<string, string> = {}, body?: string): ScrapeResponse => {
      metrics.request(status);
      return plainReply({ status, method: request.method, responseHeaders: base, headers: extra, ...(body !== undefined ? { body } : {}) });
    };

    // The standalone server refused such clients before TLS; this covers mounted adapters (the
    // application's own server accepted the connection), addresses a trusted proxy forwarded in
    // X-Forwarded-For, and connections opened before a reload narrowed the list.
    if (state.allowedNetworks && !state.allowedNetworks.contains(request.remoteAddress)) {
      metrics.transportRefusal('network_not_allowed');
      logger.warn('refused request from a network that is not allowed', { remote: request.remoteAddress });
      facts.reason = 'network_not_allowed';
      return reply(403);
    }

    const t = now();
    const global = state.globalLimit?.take(t);
    if (global && !global.ok) {
      metrics.rateLimited('global');
      facts.reason = 'rate_limited';
      return reply(429, { 'retry-after': retryAfterSeconds(global.retryAfterMs) });
    }
    const perClient = state.clientLimit?.take(request.remoteAddress, t);
    if (perClient && !perClient.ok) {
      metrics.rateLimited('client');
      facts.reason = 'rate_limited';
      return reply(429, { 'retry-after': retryAfterSeconds(perClient.retryAfterMs) });
    }

    if (state.config.tls) {
      // The standalone server already enforced this at the handshake; adapters mounted on other
      // servers may not have, so the core holds every request to the same rules.
      if (!request.tls) {
        metrics.transportRefusal('no_tls');
        logger.warn('refused request that did not arrive over TLS', { remote: request.remoteAddress });
        facts.reason = 'no_tls';
        return reply(421, {}, 'This endpoint requires TLS.\n');
      }
      const verdict = state.clientCertificatePolicy?.(request.tls.clientCertificate, request.tls.clientCertificateVerified);
      if (verdict && !verdict.ok) {
        metrics.transportRefusal('client_cert_policy');
        logger.warn('refused request by client certificate policy', { remote: request.remoteAddress, reason: verdict.detail });
        facts.reason = 'client_cert_policy';
        return reply(403);
      }
    }

    let principal: Principal;
    if (state.excludedPaths?.has(request.path)) {
      // Served without authentication. Only a forced exclusion lets this be the telemetry path.
      if (request.path !== telemetryPath) {
        if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, { allow: 'GET, HEAD' });
        return reply(200, {}, 'OK\n');
      }
      principal = ANONYMOUS;
    } else {
      const held = state.authBackoff?.check(request.remoteAddress, t);
      if (held && !held.ok) {
        metrics.rateLimited('auth_failures');
        facts.reason = 'auth_backoff';
        return reply(429, { 'retry-after': retryAfterSeconds(held.retryAfterMs) });
      }
      const auth = await authenticate(request, state.authenticators, authContext);
      if (!auth.ok) {
        facts.reason = auth.reason;
        if (auth.method) facts.method = auth.method;
        if (auth.guess && state.authBackoff) {
          const delay = state.authBackoff.fail(request.remoteAddress, now());
          if (delay > 0) logger.warn('authentication failures from client; holding it off', { remote: request.remoteAddress, retry_after_ms: delay });
        }
        return reply(auth.status, { ...auth.headers });
      }
      principal = auth.principal;
      if (principal.method !== 'none') state.authBackoff?.succeed(request.remoteAddress);
    }
    facts.principal = principal;
    facts.method = principal.method;

    if (request.path !== telemetryPath) return reply(404, {}, '404 page not found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, { allow: 'GET, HEAD' });

    let filter: SeriesFilter | undefined;
    if (state.access) {
      const decision = state.access.decide(principal, request.remoteAddress);
      if (decision.decision === 'deny') {
        metrics.accessDenied('no_rule');
        facts.reason = 'access_denied';
        logger.info('access denied: no access rule grants this principal', {
          principal: principal.name,
          method: principal.method,
          remote: request.remoteAddress,
        });
        return reply(403);
      }
      filter = decision.filter;
    }

    let exposition;
    try {
      const accept = joinedHeader(request.headers, 'accept');
      const acceptEncoding = joinedHeader(request.headers, 'accept-encoding');
      exposition = await state.expose({
        ...(accept !== undefined ? { accept } : {}),
        ...(acceptEncoding !== undefined ? { acceptEncoding } : {}),
        ...(filter !== undefined ? { filter } : {}),
        principal,
      });
    } catch (error) {
      // Fail closed: a source failure is logged (without the body) and answered with 500, or 502
      // when the source is an upstream exporter.
      logger.error('metrics source failed', { error: error instanceof Error ? error.message : String(error) });
      facts.reason = 'source_failed';
      return reply(error instanceof SourceError ? error.status : 500);
    }
    if (exposition.seriesReturned !== undefined) facts.seriesReturned = exposition.seriesReturned;
    if (exposition.seriesWithheld !== undefined) facts.seriesWithheld = exposition.seriesWithheld;
    if (filter !== undefined && state.access?.forbidEmpty && exposition.seriesReturned === 0) {
      metrics.accessDenied('empty');
      facts.reason = 'empty';
      logger.info('access denied: the rule leaves no series visible (on_empty: forbid)', { principal: principal.name, method: principal.method });
      return reply(403);
    }
    metrics.request(200);
    const headers: Record<string, string> = {
      'x-content-type-options': 'nosniff',
      ...base,
      'content-type': exposition.contentType,
      ...(exposition.contentEncoding ? { 'content-encoding': exposition.contentEncoding, vary: 'Accept-Encoding' } : {}),
    };
    const body = exposition.body;
    if (body instanceof Readable) {
      if (request.method === 'HEAD') {
        // The length is unknown without rendering it all: a HEAD gets the headers alone.
        body.destroy();
        return { status: 200, headers, body: '' };
      }
      return { status: 200, headers, body, ...(exposition.streamed ? { streamed: exposition.streamed } : {}) };
    }
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    return { status: 200, headers, body: request.method === 'HEAD' ? '' : body };
  };

  return async (request) => {
    const state = currentState();
    const sink = options.audit?.();
    if (!sink) return serve(request, state, {});
    const arrived = new Date(now());
    const started = performance.now();
    const facts: Facts = {};
    let response: ScrapeResponse | undefined;
    let failure: unknown;
    try {
      response = await serve(request, state, facts);
    } catch (error) {
      // Audited too (one record per request); the guard answers it with 500.
      failure = error;
      facts.reason = 'internal_error';
    }
    const write = (record: AuditRecord): void => {
      try {
        sink(record);
      } catch (error) {
        // An audit callback must never fail the scrape it describes.
        metrics.auditWriteError();
        logger.error('audit sink threw', { error: error instanceof Error ? error.message : String(error) });
      }
    };
    const record: AuditRecord = {
      time: arrived.toISOString(),
      principal: facts.principal?.name ?? null,
      auth_method: facts.method ?? null,
      groups: facts.principal?.groups ?? [],
      remote_address: request.remoteAddress,
      tls_version: request.tls?.protocol ?? null,
      client_cert_subject: request.tls?.clientCertificate?.subject ?? null,
      method: request.method,
      path: request.path,
      status: response?.status ?? 500,
      bytes:
        response === undefined
          ? 0
          : response.body instanceof Readable
            ? 0
            : typeof response.body === 'string'
              ? Buffer.byteLength(response.body)
              : response.body.length,
      series_returned: facts.seriesReturned ?? null,
      series_withheld: facts.seriesWithheld ?? null,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      reason: facts.reason ?? null,
    };
    if (response?.streamed) {
      // A streamed scrape is audited when its last byte went out (or it was cut off), with the final counts.
      void response.streamed.then((summary) => {
        record.bytes = summary.bytes;
        record.series_returned = summary.seriesReturned;
        record.series_withheld = summary.seriesWithheld;
        record.duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
        if (summary.error) record.reason = 'stream_failed';
        write(record);
      });
    } else write(record);
    if (response === undefined) throw failure;
    return response;
  };
}
