/**
 * An upstream exporter as a metrics source: the sidecar mode (`scrapeguard serve --upstream URL`)
 * that puts the guard in front of any plain exporter. Each scrape fetches the upstream over
 * http/https (HTTP/1.1 with keep-alive, or HTTP/2 with `http2`: `upstream-http2.ts`) with a
 * deadline and a size cap (counted after gzip decoding, so a compressed bomb is cut off too; text
 * and protobuf alike; `upstream-fetch.ts`, shared by both transports), asks for protobuf first
 * when the scraper negotiated it (so native histograms survive) and honours the content type the
 * upstream answers with, and fails with a {@link SourceError} (502) on anything unexpected. The
 * upstream's body never reaches a log line or the scraper.
 *
 * With `identityHeaders`, each upstream request names the caller the guard authenticated (user,
 * groups, method, in kube-rbac-proxy's `x-remote-user` / `x-remote-groups` style), so the
 * exporter can tailor or log its answer. The guard builds every upstream header itself and never
 * forwards a client's, so a client cannot smuggle in its own `x-remote-user`. Identity goes only
 * to a loopback upstream or one whose certificate is verified: anything else could hand it to
 * whoever sits on the path. Such a source is marked per caller (`perCaller`): one answer must
 * never be reused for another principal.
 */
import type { ConnectionOptions } from 'node:tls';
import { SourceError, type SourceFailureReason } from './failure.js';
import { isLoopbackHost } from '../net/loopback.js';
import { defineMetricsSource, type MetricsSource, type SourceOutput, type SourceRequest } from './source.js';
import { fetchUpstream, http1Transport, textOutput } from './upstream-fetch.js';
import { http2Transport } from './upstream-http2.js';
import { checkOptions } from '../options.js';
import { UPSTREAM_OPTIONS } from '../api-options.js';
import type { Principal } from '../auth/principal.js';

/** Upstream TLS client settings (for an https upstream). */
export interface UpstreamTlsOptions {
  /** CA bundle (PEM) that signs the upstream's certificate; default: the system roots. */
  ca?: string | Buffer;
  /** Client certificate (PEM) when the upstream requires mTLS; needs `key`. */
  cert?: string | Buffer;
  /** Client key (PEM). */
  key?: string | Buffer;
  /** Name to verify the certificate against (and send as SNI), when it differs from the URL host. */
  serverName?: string;
  /**
   * Skip certificate verification. Only allowed for a loopback upstream (127.0.0.0/8, ::1,
   * localhost), where the connection never leaves the host; refused otherwise.
   */
  insecureSkipVerify?: boolean;
}

/** Header names (and the groups separator) used to send the caller's identity upstream. */
export interface UpstreamIdentityHeaders {
  /** Header with the principal's name (default `x-remote-user`). */
  user?: string;
  /** Header with the principal's groups, joined by {@link groupsSeparator} (default `x-remote-groups`). */
  groups?: string;
  /** Header with the authentication method: basic, bearer, header, jwt, client_cert (default `x-remote-auth-method`). */
  method?: string;
  /** Separator between groups (default `|`, as kube-rbac-proxy). */
  groupsSeparator?: string;
}

/** {@link UpstreamIdentityHeaders} with defaults applied, names lower-case. */
export interface ResolvedIdentityHeaders {
  readonly user: string;
  readonly groups: string;
  readonly method: string;
  readonly groupsSeparator: string;
}

/** The defaults of {@link UpstreamIdentityHeaders}. */
export const DEFAULT_IDENTITY_HEADERS: ResolvedIdentityHeaders = Object.freeze({
  user: 'x-remote-user',
  groups: 'x-remote-groups',
  method: 'x-remote-auth-method',
  groupsSeparator: '|',
});

/** Headers the guard sets itself or that mean something to HTTP: never an identity header. */
const RESERVED_HEADERS = new Set([
  'accept',
  'accept-encoding',
  'user-agent',
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'te',
  'upgrade',
  'authorization',
  'proxy-authorization',
  'cookie',
  'keep-alive',
  'trailer',
]);

/**
 * Checks and completes identity header settings.
 * @throws TypeError for an invalid or reserved name, two roles sharing one name, or a bad separator.
 */
export function resolveIdentityHeaders(input: UpstreamIdentityHeaders | true): ResolvedIdentityHeaders {
  const given = input === true ? {} : input;
  const out = {
    user: (given.user ?? DEFAULT_IDENTITY_HEADERS.user).toLowerCase(),
    groups: (given.groups ?? DEFAULT_IDENTITY_HEADERS.groups).toLowerCase(),
    method: (given.method ?? DEFAULT_IDENTITY_HEADERS.method).toLowerCase(),
    groupsSeparator: given.groupsSeparator ?? DEFAULT_IDENTITY_HEADERS.groupsSeparator,
  };
  for (const role of ['user', 'groups', 'method'] as const) {
    const name = out[role];
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new TypeError(`upstream: identity header ${JSON.stringify(name)} (${role}) is not an HTTP header name`);
    if (RESERVED_HEADERS.has(name)) throw new TypeError(`upstream: ${name} cannot carry the ${role}: HTTP or the sidecar itself uses it`);
  }
  if (new Set([out.user, out.groups, out.method]).size !== 3)
    throw new TypeError('upstream: the user, groups and method identity headers need three different names');
  if (!/^[\x21-\x7e]{1,4}$/.test(out.groupsSeparator) || out.groupsSeparator.includes('%')) {
    throw new TypeError('upstream: groupsSeparator must be 1-4 visible ASCII characters other than "%"');
  }
  return Object.freeze(out);
}

/**
 * A header value carrying any name: visible ASCII passes as is, except `%` and the characters of
 * `separator`; every other byte (space, controls, non-ASCII UTF-8) is percent-encoded (RFC 3986
 * §2.1), so a name can never break the header or forge another group.
 */
export function encodeIdentityValue(value: string, separator = ''): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte >= 0x21 && byte <= 0x7e && ch !== '%' && !separator.includes(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The identity headers for one principal; none for an anonymous caller (`method: none`). */
export function identityHeaderValues(principal: Principal | undefined, headers: ResolvedIdentityHeaders): Record<string, string> {
  if (!principal || principal.method === 'none') return {};
  return {
    [headers.user]: encodeIdentityValue(principal.name),
    [headers.groups]: principal.groups.map((g) => encodeIdentityValue(g, headers.groupsSeparator)).join(headers.groupsSeparator),
    [headers.method]: principal.method,
  };
}

/** Options of {@link upstreamSource}. */
export interface UpstreamOptions {
  /** `http://` or `https://` URL of the exporter's metrics (no credentials in the URL). */
  url: string | URL;
  /** Whole-request deadline, ms (default 10000). */
  timeoutMs?: number;
  /** Largest body accepted after decoding, bytes (default 64 MiB). */
  maxBytes?: number;
  tls?: UpstreamTlsOptions;
  /**
   * Send the authenticated caller's name, groups and method in these headers (`true`: the
   * defaults `x-remote-user`, `x-remote-groups`, `x-remote-auth-method`). Only for a loopback
   * upstream or an https one with certificate verification; refused otherwise.
   */
  identityHeaders?: UpstreamIdentityHeaders | boolean;
  /**
   * Speak HTTP/2 to the upstream (default false: HTTP/1.1 with keep-alive): one long-lived
   * session, every scrape a stream on it. `https://`: ALPN `h2` only, and an upstream that does
   * not choose it fails every scrape (`502`, never a silent fall-back to HTTP/1.1); `http://`:
   * h2c with prior knowledge.
   */
  http2?: boolean;
}

/**
 * What the sidecar asks the upstream for: the header Prometheus 3.5 sends, UTF-8 names allowed, so
 * the upstream's names arrive unescaped (the sidecar escapes them itself for a scraper that wants
 * legacy names). A client_golang exporter without OpenMetrics answers it with text 0.0.4 and
 * `escaping=allow-utf-8`.
 */
export const UPSTREAM_ACCEPT =
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';

/**
 * What the sidecar asks the upstream for when the scraper negotiated protobuf: protobuf first,
 * then the text formats, in the order Prometheus 3.5 with native histograms enabled asks, every
 * range with `escaping=allow-utf-8`: the sidecar reads the upstream's own names (rules match
 * them) and escapes them itself for a scraper that does not take UTF-8.
 */
export const UPSTREAM_ACCEPT_PROTOBUF =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1';

/**
 * Creates a source that scrapes an upstream exporter.
 * @throws TypeError for a URL that is not http(s), carries credentials, or an insecure flag on a
 * non-loopback upstream.
 * @example
 * const guard = await createGuard({ config: 'web-config.yml', source: upstreamSource({ url: 'http://127.0.0.1:9100/metrics' }) });
 */
export function upstreamSource(options: UpstreamOptions): MetricsSource {
  checkOptions('upstreamSource', options, UPSTREAM_OPTIONS);
  let url: URL;
  try {
    url = new URL(String(options.url));
  } catch {
    throw new TypeError('upstream: url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`upstream: url must be http:// or https://, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new TypeError('upstream: url must not carry credentials');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('upstream: timeoutMs must be a positive integer');
  if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new TypeError('upstream: maxBytes must be a positive integer');
  const tls = options.tls ?? {};
  const https = url.protocol === 'https:';
  if (!https && (tls.ca || tls.cert || tls.key || tls.serverName || tls.insecureSkipVerify)) {
    throw new TypeError('upstream: TLS settings given for an http:// url; use https://');
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new TypeError('upstream: tls.cert and tls.key go together');
  if (tls.insecureSkipVerify && !isLoopbackHost(url.hostname)) {
    throw new TypeError('upstream: insecureSkipVerify is only allowed for a loopback upstream; give tls.ca instead');
  }
  const identity = options.identityHeaders === undefined || options.identityHeaders === false ? undefined : resolveIdentityHeaders(options.identityHeaders);
  if (identity && !isLoopbackHost(url.hostname) && (!https || tls.insecureSkipVerify)) {
    throw new TypeError(
      `upstream: identity headers are sent only to a loopback upstream or an https:// one whose certificate is verified; ${url.origin} is ${https ? 'https without verification' : 'plain http'} on a non-loopback address`,
    );
  }
  const description = `upstream ${url.origin}${url.pathname}${options.http2 === true ? ' over HTTP/2' : ''}`;
  const tlsOptions: ConnectionOptions | undefined = https
    ? {
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
        ...(tls.key !== undefined ? { key: tls.key } : {}),
        ...(tls.serverName !== undefined ? { servername: tls.serverName } : {}),
        rejectUnauthorized: tls.insecureSkipVerify !== true,
      }
    : undefined;
  const fail = (reason: SourceFailureReason, detail: string, cause?: unknown): SourceError =>
    new SourceError(502, reason, `${description}: ${detail}`, cause !== undefined ? { cause } : undefined);
  const send = options.http2 === true ? http2Transport(url, tlsOptions, timeoutMs, fail) : http1Transport(url, tlsOptions, fail);
  const limits = { timeoutMs, maxBytes };
  const fetchOnce = (accept: string, identityValues: Record<string, string>) =>
    // Built here, from nothing the client sent: only the guard's own headers go upstream.
    fetchUpstream(send, { accept, 'accept-encoding': 'gzip', 'user-agent': 'scrapeguard', ...identityValues }, limits, fail);

  /**
   * Upstream fetches in flight, by what is asked (the Accept header, and the identity headers of
   * a per-caller source): a scrape that arrives while the same fetch is running awaits it instead
   * of asking again (no thundering herd on a slow exporter). Only while in flight: an entry is
   * removed as soon as the fetch settles, so no answer is ever served to a later scrape, and a
   * per-caller source never shares across principals (their identity headers differ). Nothing a
   * waiter does (its client going away) cancels the fetch: it ends by itself, within the timeout
   * and the size cap.
   */
  const inFlight = new Map<string, Promise<SourceOutput>>();
  const shared = (scrape?: SourceRequest): Promise<SourceOutput> => {
    const accept = upstreamAccept(scrape);
    const identityValues = identity ? identityHeaderValues(scrape?.principal, identity) : {};
    const key = identity ? `${accept}\n${JSON.stringify(identityValues)}` : accept;
    let pending = inFlight.get(key);
    if (pending === undefined) {
      pending = fetchOnce(accept, identityValues);
      inFlight.set(key, pending);
      const forget = () => inFlight.delete(key);
      pending.then(forget, forget);
    }
    // Each scrape gets its own output object (the bytes are immutable and shared; a spread would
    // decode the lazy text body).
    return pending.then((out) => ('raw' in out && out.raw ? textOutput(out.raw.bytes, out.contentType, out.raw.gzip) : { ...out }));
  };

  return defineMetricsSource(shared, 502, description, { perCaller: identity !== undefined });
}

/**
 * The Accept header for one scrape: protobuf first when the scraper negotiated protobuf; the
 * scraper's own text format and escaping first when the pass could send the answer through
 * unchanged (so an exporter that honours Accept answers in exactly that form); else the upstream's
 * own names ({@link UPSTREAM_ACCEPT}).
 */
export function upstreamAccept(scrape?: SourceRequest): string {
  if (scrape?.protobuf) return UPSTREAM_ACCEPT_PROTOBUF;
  const exact = scrape?.passThrough;
  if (!exact) return UPSTREAM_ACCEPT;
  const media = exact.format === 'openmetrics' ? 'application/openmetrics-text' : 'text/plain';
  return `${media};version=${exact.version};escaping=${exact.escaping};q=0.7,${UPSTREAM_ACCEPT}`;
}
