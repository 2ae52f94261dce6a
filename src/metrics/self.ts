/**
 * scrapeguard's own metrics (opt-in): auth failures, TLS handshake errors, rate-limit refusals,
 * config reloads, redactions, detected secrets, withheld series, source errors, and the serving certificate's expiry so Prometheus can alert before it lapses.
 * They are registered in a prom-client registry the caller passes; without one, every call is a
 * no-op. prom-client is an optional peer dependency, loaded only when a registry is given.
 */
import { AUTH_FAILURE_REASONS, type AuthFailureReason } from '../auth/failure.js';

/**
 * Why the standalone server closed a connection before serving it: the address was at
 * `max_connections_per_client`, the server was at `max_connections` with nothing evictable,
 * an older idle connection that never completed a request made room for a new one, or the TLS
 * handshake did not finish within `handshake_timeout`.
 */
export type ConnectionRefusalReason =
  | 'per_client_limit'
  | 'global_limit'
  | 'evicted'
  | 'handshake_timeout'
  /** The client's address (from the socket or a PROXY header) is outside `allowed_networks`. */
  | 'network_not_allowed'
  /** A PROXY protocol header from a peer that may not send one (not a trusted proxy, or a listener without PROXY protocol). */
  | 'proxy_header_refused'
  /** A trusted proxy on a PROXY-protocol listener sent no PROXY header. */
  | 'proxy_header_missing'
  /** A malformed, oversized or unsupported PROXY header (UDP, UNIX sockets). */
  | 'proxy_header_invalid';

/** Every {@link ConnectionRefusalReason}, pre-set to 0. */
export const CONNECTION_REFUSAL_REASONS: readonly ConnectionRefusalReason[] = [
  'per_client_limit',
  'global_limit',
  'evicted',
  'handshake_timeout',
  'network_not_allowed',
  'proxy_header_refused',
  'proxy_header_missing',
  'proxy_header_invalid',
];

/**
 * Why the standalone server reset an HTTP/2 stream with ENHANCE_YOUR_CALM: the address already
 * had `http2_max_streams_per_client` streams in service, the server had `max_connections`, the
 * response was not delivered within `request_timeout` (a peer that does not read), or the
 * session kept opening streams past the bounds and was sent GOAWAY.
 */
export type Http2ResetReason = 'per_client_limit' | 'global_limit' | 'stalled' | 'session_goaway';

/** Every {@link Http2ResetReason}, pre-set to 0. */
export const HTTP2_RESET_REASONS: readonly Http2ResetReason[] = ['per_client_limit', 'global_limit', 'stalled', 'session_goaway'];

/** Why an authenticated request was refused by `access_rules`. */
export type AccessDenialReason = 'no_rule' | 'empty';

/** Why forwarding headers were ignored: sent by a peer that is not a trusted proxy, or a forwarded client certificate that cannot be read. */
export type ForwardedIgnoredReason = 'untrusted_peer' | 'unreadable_certificate';

/** Why the core refused a request before authentication: it did not arrive over TLS, or the client certificate policy refused it. */
export type TransportRefusalReason = 'no_tls' | 'client_cert_policy' | 'network_not_allowed';

/** The counters and gauges the guard updates. */
export interface SelfMetrics {
  authFailure(reason: AuthFailureReason): void;
  tlsHandshakeError(reason: string): void;
  rateLimited(scope: 'global' | 'client' | 'auth_failures'): void;
  /** An authenticated request refused by `access_rules`. */
  accessDenied(reason: AccessDenialReason): void;
  /** An audit line could not be written (the scrape went on). */
  auditWriteError(): void;
  configReload(result: 'success' | 'failure'): void;
  servingCertificate(notAfter: Date | undefined): void;
  request(status: number): void;
  /** One bcrypt verification ran (a cache miss), taking `seconds` on the thread pool. */
  bcrypt(seconds: number): void;
  /** A redaction rule section (`drop_labels`, `mask_labels`, …) fired `count` times in one scrape. */
  redactions(rule: string, count: number): void;
  /** A secret detector masked `count` label values in one scrape. */
  secretsDetected(detector: string, count: number): void;
  /** The caller's view withheld `count` series in one scrape. */
  seriesWithheld(count: number): void;
  /** The metrics source failed (the scrape answered 500 or 502), by reason. */
  sourceError(reason: string): void;
  /** The standalone server refused or closed a connection, by reason. */
  connectionRefused(reason: ConnectionRefusalReason): void;
  /** The standalone server reset an HTTP/2 stream (or sent GOAWAY) with ENHANCE_YOUR_CALM, by reason. */
  http2Reset(reason: Http2ResetReason): void;
  /** Forwarding headers were ignored (the request went on without them), by reason. */
  forwardedHeadersIgnored(reason: ForwardedIgnoredReason): void;
  /** A request was refused by the TLS requirement or the client certificate policy, by reason. */
  transportRefusal(reason: TransportRefusalReason): void;
  /** The export limits dropped `count` series of `family` from one scrape, by reason. */
  droppedSeries(reason: string, family: string, count: number): void;
}

/** The part of a prom-client Registry used here. */
export interface SelfMetricsRegistry {
  registerMetric(metric: unknown): void;
}

/** Self-metrics that record nothing. */
export const noSelfMetrics: SelfMetrics = {
  authFailure() {},
  tlsHandshakeError() {},
  rateLimited() {},
  accessDenied() {},
  auditWriteError() {},
  configReload() {},
  servingCertificate() {},
  request() {},
  bcrypt() {},
  redactions() {},
  secretsDetected() {},
  seriesWithheld() {},
  sourceError() {},
  connectionRefused() {},
  http2Reset() {},
  forwardedHeadersIgnored() {},
  transportRefusal() {},
  droppedSeries() {},
};

/**
 * Distinct `family` label values of `scrapeguard_dropped_series_total` at most; further families
 * (and names longer than {@link DROPPED_FAMILY_MAX_LENGTH}) are counted as `family="_other"`, so an
 * upstream inventing family names cannot grow the guard's own metrics without bound.
 */
export const DROPPED_FAMILY_LABELS = 100;
/** Longest family name used as a label value as it is. */
export const DROPPED_FAMILY_MAX_LENGTH = 200;
/** The `family` label value of every family beyond {@link DROPPED_FAMILY_LABELS}. */
export const DROPPED_FAMILY_OTHER = '_other';

/**
 * Registers scrapeguard's metrics in `registry` (prom-client).
 * @example
 * import { Registry } from 'prom-client';
 * const selfMetrics = await createSelfMetrics(new Registry());
 */
export async function createSelfMetrics(registry: SelfMetricsRegistry): Promise<SelfMetrics> {
  const prom = await import('prom-client');
  const registers = [registry as never];
  const authFailures = new prom.Counter({
    name: 'scrapeguard_auth_failures_total',
    help: 'Requests refused for failed authentication, by reason.',
    labelNames: ['reason'],
    registers,
  });
  const handshakeErrors = new prom.Counter({
    name: 'scrapeguard_tls_handshake_errors_total',
    help: 'TLS handshakes that failed or were refused by the client certificate policy, by reason.',
    labelNames: ['reason'],
    registers,
  });
  const rateLimited = new prom.Counter({
    name: 'scrapeguard_rate_limited_total',
    help: 'Requests refused with 429 by a rate limit, by scope (global, per client, or auth_failures: brute-force backoff).',
    labelNames: ['scope'],
    registers,
  });
  const reloads = new prom.Counter({
    name: 'scrapeguard_config_reloads_total',
    help: 'Configuration reload attempts, by result.',
    labelNames: ['result'],
    registers,
  });
  const lastReloadOk = new prom.Gauge({
    name: 'scrapeguard_config_last_reload_successful',
    help: 'Whether the last configuration reload succeeded (1) or kept the previous config (0).',
    registers,
  });
  const notAfter = new prom.Gauge({
    name: 'scrapeguard_serving_certificate_not_after_seconds',
    help: 'Expiry of the serving TLS certificate, Unix seconds. Alert when it comes near time().',
    registers,
  });
  const requests = new prom.Counter({
    name: 'scrapeguard_requests_total',
    help: 'Requests answered, by HTTP status code.',
    labelNames: ['code'],
    registers,
  });
  const bcryptRuns = new prom.Counter({
    name: 'scrapeguard_bcrypt_verifications_total',
    help: 'bcrypt verifications run (basic-auth cache misses). Flat while the cache serves repeat scrapes.',
    registers,
  });
  const bcryptSeconds = new prom.Counter({
    name: 'scrapeguard_bcrypt_seconds_total',
    help: 'Time bcrypt verifications spent on the thread pool, seconds.',
    registers,
  });
  const accessDenied = new prom.Counter({
    name: 'scrapeguard_access_denied_total',
    help: 'Authenticated requests refused with 403 by access_rules, by reason (no_rule, empty).',
    labelNames: ['reason'],
    registers,
  });
  const auditErrors = new prom.Counter({
    name: 'scrapeguard_audit_write_errors_total',
    help: 'Audit lines that could not be written; the scrapes themselves were served.',
    registers,
  });
  for (const reason of AUTH_FAILURE_REASONS) authFailures.inc({ reason }, 0);
  for (const reason of ['no_rule', 'empty']) accessDenied.inc({ reason }, 0);
  const redactions = new prom.Counter({
    name: 'scrapeguard_redactions_total',
    help: 'Redactions applied to exposed series, by rule (drop_labels, mask_labels, hash_labels, drop_metrics, redact_help).',
    labelNames: ['rule'],
    registers,
  });
  const secrets = new prom.Counter({
    name: 'scrapeguard_secrets_detected_total',
    help: 'Label values masked because a secret detector fired, by detector.',
    labelNames: ['detector'],
    registers,
  });
  const withheld = new prom.Counter({
    name: 'scrapeguard_series_withheld_total',
    help: "Series left out of scrapes by the caller's access rules.",
    registers,
  });
  const sourceErrors = new prom.Counter({
    name: 'scrapeguard_source_errors_total',
    help: 'Scrapes failed because the metrics source failed, by reason (parse, source, connect, timeout, status, too_large, content_type, tls).',
    labelNames: ['reason'],
    registers,
  });
  const connectionsRefused = new prom.Counter({
    name: 'scrapeguard_connections_refused_total',
    help: 'Connections refused or closed before serving a request, by reason (per_client_limit, global_limit, evicted, handshake_timeout, network_not_allowed, proxy_header_refused, proxy_header_missing, proxy_header_invalid).',
    labelNames: ['reason'],
    registers,
  });
  const http2Resets = new prom.Counter({
    name: 'scrapeguard_http2_streams_reset_total',
    help: 'HTTP/2 streams reset (or sessions sent GOAWAY) with ENHANCE_YOUR_CALM, by reason (per_client_limit, global_limit, stalled, session_goaway).',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of CONNECTION_REFUSAL_REASONS) connectionsRefused.inc({ reason }, 0);
  for (const reason of HTTP2_RESET_REASONS) http2Resets.inc({ reason }, 0);
  const forwardedIgnored = new prom.Counter({
    name: 'scrapeguard_forwarded_headers_ignored_total',
    help: 'Requests whose forwarding headers were ignored, by reason (untrusted_peer: not a trusted proxy; unreadable_certificate: a forwarded client certificate that cannot be read).',
    labelNames: ['reason'],
    registers,
  });
  const transportRefusals = new prom.Counter({
    name: 'scrapeguard_transport_refusals_total',
    help: 'Requests refused before authentication, by reason (no_tls: did not arrive over TLS; client_cert_policy: refused by the client certificate policy; network_not_allowed: the client address is outside allowed_networks).',
    labelNames: ['reason'],
    registers,
  });
  const droppedSeries = new prom.Counter({
    name: 'scrapeguard_dropped_series_total',
    help: `Series left out of scrapes by the export limits, by reason (label_value_bytes, labels_per_series, series_per_family, series_per_scrape) and family (the first ${DROPPED_FAMILY_LABELS} families, then _other).`,
    labelNames: ['reason', 'family'],
    registers,
  });
  const droppedFamilies = new Set<string>();
  const droppedFamilyLabel = (family: string): string => {
    if (droppedFamilies.has(family)) return family;
    if (droppedFamilies.size >= DROPPED_FAMILY_LABELS || family.length > DROPPED_FAMILY_MAX_LENGTH || family === DROPPED_FAMILY_OTHER)
      return DROPPED_FAMILY_OTHER;
    droppedFamilies.add(family);
    return family;
  };
  for (const reason of ['untrusted_peer', 'unreadable_certificate']) forwardedIgnored.inc({ reason }, 0);
  for (const reason of ['no_tls', 'client_cert_policy', 'network_not_allowed']) transportRefusals.inc({ reason }, 0);
  for (const result of ['success', 'failure']) reloads.inc({ result }, 0);
  lastReloadOk.set(1);
  return {
    authFailure: (reason) => authFailures.inc({ reason }),
    tlsHandshakeError: (reason) => handshakeErrors.inc({ reason }),
    rateLimited: (scope) => rateLimited.inc({ scope }),
    accessDenied: (reason) => accessDenied.inc({ reason }),
    auditWriteError: () => auditErrors.inc(),
    configReload: (result) => {
      reloads.inc({ result });
      lastReloadOk.set(result === 'success' ? 1 : 0);
    },
    servingCertificate: (date) => {
      if (date) notAfter.set(Math.floor(date.getTime() / 1000));
      else notAfter.reset();
    },
    request: (status) => requests.inc({ code: String(status) }),
    bcrypt: (seconds) => {
      bcryptRuns.inc();
      bcryptSeconds.inc(seconds);
    },
    redactions: (rule, count) => redactions.inc({ rule }, count),
    secretsDetected: (detector, count) => secrets.inc({ detector }, count),
    seriesWithheld: (count) => withheld.inc(count),
    sourceError: (reason) => sourceErrors.inc({ reason }),
    connectionRefused: (reason) => connectionsRefused.inc({ reason }),
    http2Reset: (reason) => http2Resets.inc({ reason }),
    forwardedHeadersIgnored: (reason) => forwardedIgnored.inc({ reason }),
    transportRefusal: (reason) => transportRefusals.inc({ reason }),
    droppedSeries: (reason, family, count) => droppedSeries.inc({ reason, family: droppedFamilyLabel(family) }, count),
  };
}
