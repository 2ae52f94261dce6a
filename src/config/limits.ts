/**
 * `limits`: scrapeguard's bounds on connections, handshakes, HTTP/2 streams, timeouts, header
 * size, bcrypt concurrency, per-client rate limits and export limits, with their defaults.
 */
import { availableParallelism } from 'node:os';
import { checkAuthFailureBackoff } from './auth-backoff.js';
import { Checker, fmtMs, INVALID, quote, type Read } from './checker.js';
import type { KeyPath } from './locate.js';
import type { RateLimit, ResolvedConfig, ResolvedSeriesLimits } from './schema.js';

const RATE_KEYS = ['interval', 'burst'] as const;
const LIMIT_KEYS = [
  'per_client_rate_limit',
  'max_connections',
  'max_connections_per_client',
  'handshake_timeout',
  'http2_max_concurrent_streams',
  'http2_max_streams_per_client',
  'read_header_timeout',
  'request_timeout',
  'idle_timeout',
  'max_header_bytes',
  'max_concurrent_bcrypt',
  'auth_failure_backoff',
  'max_series_per_scrape',
  'max_series_per_family',
  'max_labels_per_series',
  'max_label_value_bytes',
] as const;
const DEFAULT_LIMITS = {
  maxConnections: 512,
  // One Prometheus uses one keep-alive connection per target; 32 leaves room for HA pairs, agents
  // and operators behind one NAT, while one address can take at most 1/16 of max_connections.
  maxConnectionsPerClient: 32,
  // A handshake takes a few round trips; 5 s covers a slow WAN with retransmits, and bounds how long
  // a stalled handshake holds a slot (read_header_timeout, 10 s, applies once TLS is up).
  handshakeTimeoutMs: 5_000,
  // nginx 128, Go 250, Node unlimited: a scraper needs one or two streams.
  http2MaxConcurrentStreams: 100,
  // Each HTTP/2 request is rendered whole and held until the peer reads it: this many per address
  // bounds what one client can pin (measured: 8 keep a never-reading flood under 64 MiB with
  // 440 KiB responses). A scraper needs one at a time.
  http2MaxStreamsPerClient: 8,
  readHeaderTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  maxHeaderBytes: 16_384,
  // bcrypt runs on libuv's pool; one core stays free for the event loop (TLS, serving), or a
  // wrong-password flood starves legitimate scrapes (measured: bench S4).
  maxConcurrentBcrypt: Math.max(1, availableParallelism() - 1),
} as const;
// Node timers and server timeouts take a 32-bit signed number of milliseconds.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
export function checkRateLimit(c: Checker, raw: unknown, P: KeyPath): Read<RateLimit> {
  const m = c.mapping(raw, P, RATE_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const interval = c.duration(m.interval, [...P, 'interval']);
  const burst = c.int(m.burst, [...P, 'burst'], 0);
  if (interval === INVALID || burst === INVALID) return INVALID;
  if (interval === undefined) {
    if (burst !== undefined && burst > 0) {
      c.error(P, 'burst is set but interval is missing, so rate limiting would be off; set interval (e.g. "1s"), or interval: 0 to disable');
      return INVALID;
    }
    return undefined;
  }
  if (interval.ms < 0) {
    c.error([...P, 'interval'], `must not be negative, got ${quote(interval.text)}`);
    return INVALID;
  }
  if (interval.ms === 0) return undefined; // `0` disables, as in exporter-toolkit
  if (burst === undefined) {
    c.error(P, "missing burst: with interval set, exporter-toolkit's default burst 0 refuses every request; set burst to 1 or more");
    return INVALID;
  }
  if (burst < 1) {
    c.error([...P, 'burst'], 'burst must be at least 1 when interval is set (burst 0 refuses every request)');
    return INVALID;
  }
  return { intervalMs: interval.ms, burst };
}
export function checkLimits(c: Checker, raw: unknown): ResolvedConfig['limits'] | typeof INVALID {
  const P = ['limits'] as const;
  const m = c.mapping(raw, P, LIMIT_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return { ...DEFAULT_LIMITS };
  const at = (key: string): KeyPath => [...P, key];
  const before = c.issues.length;

  const perClient = checkRateLimit(c, m.per_client_rate_limit, at('per_client_rate_limit'));
  const maxConnections = c.int(m.max_connections, at('max_connections'), 1);
  const maxConnectionsPerClient = c.int(m.max_connections_per_client, at('max_connections_per_client'), 0);
  const http2Streams = c.int(m.http2_max_concurrent_streams, at('http2_max_concurrent_streams'), 1);
  const http2StreamsPerClient = c.int(m.http2_max_streams_per_client, at('http2_max_streams_per_client'), 0);
  if (typeof http2Streams === 'number' && http2Streams > 2 ** 31 - 1) {
    c.error(at('http2_max_concurrent_streams'), `too large: at most ${2 ** 31 - 1} (HTTP/2 stream identifiers are 31 bits), got ${http2Streams}`);
  }
  const maxHeaderBytes = c.int(m.max_header_bytes, at('max_header_bytes'), 1);
  const maxConcurrentBcrypt = c.int(m.max_concurrent_bcrypt, at('max_concurrent_bcrypt'), 1);
  const series = checkSeriesLimits(c, m, at);
  // Off unless configured: a file node_exporter accepts must behave as it does there (no lockout).
  const backoff = m.auth_failure_backoff === undefined ? undefined : checkAuthFailureBackoff(c, m.auth_failure_backoff ?? {}, at('auth_failure_backoff'));
  const timeout = (key: string, fallback: number): Read<{ ms: number; text: string }> => {
    const d = c.duration(m[key], at(key));
    if (d === INVALID) return INVALID;
    if (d === undefined) return { ms: fallback, text: `${fmtMs(fallback)}, the default` };
    if (d.ms <= 0) {
      c.error(at(key), `must be greater than 0, got ${quote(d.text)}`);
      return INVALID;
    }
    if (d.ms < 1) {
      // Node's timers count whole milliseconds; a sub-millisecond timeout is a typo ("10ns" for "10s").
      c.error(at(key), `must be at least 1ms, got ${quote(d.text)}`);
      return INVALID;
    }
    // Node takes whole milliseconds: round a fractional remainder up.
    const ms = Math.ceil(d.ms);
    if (ms > MAX_TIMEOUT_MS) {
      c.error(at(key), `too large: at most ${MAX_TIMEOUT_MS}ms (about 24.8 days), got ${quote(d.text)}`);
      return INVALID;
    }
    return { ms, text: d.text };
  };
  const readHeader = timeout('read_header_timeout', DEFAULT_LIMITS.readHeaderTimeoutMs);
  const request = timeout('request_timeout', DEFAULT_LIMITS.requestTimeoutMs);
  const idle = timeout('idle_timeout', DEFAULT_LIMITS.idleTimeoutMs);
  const handshake = timeout('handshake_timeout', DEFAULT_LIMITS.handshakeTimeoutMs);
  if (readHeader && readHeader !== INVALID && request && request !== INVALID && readHeader.ms > request.ms) {
    // Node's http server refuses a headers timeout longer than the request timeout.
    c.error(
      m.read_header_timeout !== undefined && m.read_header_timeout !== null ? at('read_header_timeout') : at('request_timeout'),
      `read_header_timeout (${readHeader.text}) must not exceed request_timeout (${request.text})`,
    );
  }
  if (
    c.issues.length > before ||
    perClient === INVALID ||
    backoff === INVALID ||
    readHeader === INVALID ||
    request === INVALID ||
    idle === INVALID ||
    handshake === INVALID
  ) {
    return INVALID;
  }
  const num = (v: Read<number>, fallback: number): number => (typeof v === 'number' ? v : fallback);
  return {
    ...(perClient ? { perClientRateLimit: perClient } : {}),
    maxConnections: num(maxConnections, DEFAULT_LIMITS.maxConnections),
    maxConnectionsPerClient: num(maxConnectionsPerClient, DEFAULT_LIMITS.maxConnectionsPerClient),
    // Unset: 5 s, or read_header_timeout when that is shorter (it bounded the handshake before).
    handshakeTimeoutMs:
      m.handshake_timeout !== undefined && m.handshake_timeout !== null
        ? (handshake?.ms ?? DEFAULT_LIMITS.handshakeTimeoutMs)
        : Math.min(DEFAULT_LIMITS.handshakeTimeoutMs, readHeader?.ms ?? DEFAULT_LIMITS.readHeaderTimeoutMs),
    http2MaxConcurrentStreams: num(http2Streams, DEFAULT_LIMITS.http2MaxConcurrentStreams),
    http2MaxStreamsPerClient: num(http2StreamsPerClient, DEFAULT_LIMITS.http2MaxStreamsPerClient),
    readHeaderTimeoutMs: readHeader?.ms ?? DEFAULT_LIMITS.readHeaderTimeoutMs,
    requestTimeoutMs: request?.ms ?? DEFAULT_LIMITS.requestTimeoutMs,
    idleTimeoutMs: idle?.ms ?? DEFAULT_LIMITS.idleTimeoutMs,
    maxHeaderBytes: num(maxHeaderBytes, DEFAULT_LIMITS.maxHeaderBytes),
    maxConcurrentBcrypt: num(maxConcurrentBcrypt, DEFAULT_LIMITS.maxConcurrentBcrypt),
    ...(backoff ? { authFailureBackoff: backoff } : {}),
    ...(series ? { series } : {}),
  };
}
/**
 * The export limits (`max_series_per_scrape` …): integers ≥ 0, `0` (the default) meaning no
 * limit, as Prometheus's `sample_limit` and `label_limit`. Undefined when none is set, so a
 * config without them resolves exactly as before.
 */
function checkSeriesLimits(c: Checker, m: Record<string, unknown>, at: (key: string) => KeyPath): ResolvedSeriesLimits | undefined {
  const read = (key: string): number => {
    const v = c.int(m[key], at(key), 0);
    return typeof v === 'number' ? v : 0;
  };
  const limits: ResolvedSeriesLimits = {
    maxSeriesPerScrape: read('max_series_per_scrape'),
    maxSeriesPerFamily: read('max_series_per_family'),
    maxLabelsPerSeries: read('max_labels_per_series'),
    maxLabelValueBytes: read('max_label_value_bytes'),
  };
  return Object.values(limits).some((v) => v > 0) ? limits : undefined;
}
