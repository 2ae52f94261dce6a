/**
 * The health listener (`Guard.listenHealth`, `serve --web.health-listen-address`): a second
 * listener on its own address that answers `GET /healthz` and `GET /readyz` and nothing else
 * (every other path 404, never metrics). A kubelet probe cannot present a client certificate, so
 * while the metrics listener keeps `RequireAndVerifyClientCert` the probes go here: plain HTTP
 * (loopback or the pod IP) or TLS with a server certificate and no client certificate asked for.
 *
 * It runs on its own {@link GuardServer}, so it has the same bounds as the metrics listener (the
 * config's `limits`: connection caps, handshake, header and request deadlines) with a budget of its
 * own: a flood on one listener does not take the other's connections. HTTP/1.1 only (probes speak
 * nothing else).
 *
 * - `/healthz`: 200 while the process serves (it answers, so it is alive).
 * - `/readyz`: 200 when a configuration is in force and the guard is not closing; for a remote
 *   source (an upstream exporter: a source whose failures answer 502) also only when the upstream
 *   answered a scrape successfully within `readyWindowMs` (default 30 s). When no scrape did,
 *   `/readyz` asks the upstream itself — one request at a time however many probes arrive, and a
 *   failure is remembered for {@link READY_RETRY_MS} — so a pod becomes ready before Prometheus
 *   first scrapes it. The answer says "ready" or "not ready", never why (the listener is
 *   unauthenticated; the reason is in the log and the self-metrics).
 */
import { X509Certificate } from 'node:crypto';
import type { ResolvedConfig, ResolvedTls } from '../config/schema.js';
import { certificateFacts, parseCertificateChain, parsePrivateKey } from '../config/certs.js';
import type { GuardState } from '../core/handle.js';
import type { NodeRequestHandler } from '../adapters/http.js';
import { pathOf } from '../adapters/node-request.js';
import { defineMetricsSource, type MetricsSource } from '../exposition/source.js';

/** TLS of the health listener: its own server certificate and key (PEM), never a client certificate. */
export interface HealthTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

/** Options of `Guard.listenHealth`. */
export interface HealthListenOptions {
  /**
   * Absent or `false`: plain HTTP (for loopback or the pod IP; the listener serves nothing but
   * the two probe paths). `true`: TLS with the configuration's serving certificate and key
   * (`tls_server_config`, followed across reloads), no client certificate requested. An object:
   * TLS with this certificate and key (protocol settings from `tls_server_config` when there is
   * one, else TLS 1.2–1.3 with the default suites).
   */
  tls?: boolean | HealthTlsOptions;
  /** How recent an upstream's last successful answer must be for `/readyz`, ms (default 30000). */
  readyWindowMs?: number;
}

/** Default {@link HealthListenOptions.readyWindowMs}. */
export const DEFAULT_READY_WINDOW_MS = 30_000;
/** After a failed readiness check of the upstream, probes answer "not ready" for this long without asking again. */
export const READY_RETRY_MS = 5_000;

const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' } as const;

/**
 * Whether the metrics source answers: wraps the source so every successful scrape is noted, and
 * checks a remote source on demand when no scrape was recent.
 */
export class SourceHealth {
  /** The source to scrape through (successes are noted here). */
  readonly source: MetricsSource;
  private lastOk = -Infinity;
  private lastFailure = -Infinity;
  private checking: Promise<boolean> | undefined;

  constructor(
    private readonly inner: MetricsSource,
    private readonly now: () => number = Date.now,
  ) {
    this.source = defineMetricsSource(
      // Every argument goes through: the scrape's wishes (protobuf) and its caller.
      async (...args: Parameters<MetricsSource>) => {
        const out = await inner(...args);
        this.lastOk = this.now();
        return out;
      },
      inner.failureStatus,
      inner.description,
      // Whether answers depend on the caller is the inner source's to say: sharing must know it.
      { perCaller: inner.perCaller },
    );
  }

  /** A source whose failures answer 502 is an upstream: readiness depends on it. */
  get remote(): boolean {
    return this.inner.failureStatus === 502;
  }

  /** Whether the source counts as answering: always for a local source; for a remote one, see the module comment. */
  async ready(windowMs: number): Promise<boolean> {
    if (!this.remote) return true;
    const now = this.now();
    if (now - this.lastOk <= windowMs) return true;
    if (now - this.lastFailure < READY_RETRY_MS) return false;
    this.checking ??= this.source()
      .then(
        () => true,
        () => {
          this.lastFailure = this.now();
          return false;
        },
      )
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }
}

/**
 * The health listener's request handler: `/healthz` and `/readyz` (GET or HEAD), 405 for other
 * methods on them, 404 for every other path.
 */
export function healthHandler(ready: () => Promise<boolean>): NodeRequestHandler {
  return (req, res) => {
    const path = pathOf(req.url);
    const answer = (status: number, text: string, extra: Record<string, string> = {}) => {
      (res as import('node:http').ServerResponse).writeHead(status, { ...HEADERS, ...extra });
      res.end(req.method === 'HEAD' ? '' : text);
    };
    if (path !== '/healthz' && path !== '/readyz') return answer(404, '404 page not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'Method Not Allowed\n', { allow: 'GET, HEAD' });
    if (path === '/healthz') return answer(200, 'ok\n');
    ready().then(
      (ok) => answer(ok ? 200 : 503, ok ? 'ready\n' : 'not ready\n'),
      () => answer(503, 'not ready\n'),
    );
  };
}

/** A copy of `tls` that asks for no client certificate (the key stays a non-enumerable property). */
function withoutClientCertificate(tls: ResolvedTls): ResolvedTls {
  const { clientCaPem: _ca, clientCaFile: _caFile, clientAllowedSans: _sans, ...rest } = tls;
  const out: ResolvedTls = { ...rest, keyPem: '', clientAuth: 'NoClientCert' };
  Object.defineProperty(out, 'keyPem', { value: tls.keyPem, enumerable: false });
  return out;
}

/**
 * The TLS settings of a health listener with its own certificate and key.
 * @throws TypeError when they are not a valid certificate and matching unencrypted key.
 */
export function ownHealthTls(options: HealthTlsOptions, config: ResolvedConfig): ResolvedTls {
  const certPem = String(options.cert);
  const keyPem = String(options.key);
  const chain = parseCertificateChain(certPem, 'listenHealth: tls.cert');
  if (!chain.ok) throw new TypeError(chain.error);
  const key = parsePrivateKey(keyPem, 'listenHealth: tls.key');
  if (!key.ok) throw new TypeError(key.error);
  const leaf: X509Certificate = chain.value[0]!;
  if (!leaf.checkPrivateKey(key.value)) throw new TypeError('listenHealth: tls.key does not belong to tls.cert');
  const base = config.tls;
  const tls: ResolvedTls = {
    certPem,
    keyPem: '',
    certificate: certificateFacts(leaf),
    clientAuth: 'NoClientCert',
    minVersion: base?.minVersion ?? 'TLS12',
    maxVersion: base?.maxVersion ?? 'TLS13',
    cipherSuites: base?.cipherSuites ?? [],
    preferServerCipherSuites: base?.preferServerCipherSuites ?? true,
    curvePreferences: base?.curvePreferences ?? [],
  };
  Object.defineProperty(tls, 'keyPem', { value: keyPem, enumerable: false });
  return tls;
}

/** How a health listener gets its TLS from each configuration generation. */
export type HealthTlsSource = undefined | 'config' | ResolvedTls;

/**
 * The state a health listener's {@link GuardServer} serves with: the generation's limits, HTTP/1.1
 * only, and the health TLS (or none) without any client-certificate policy.
 * @throws TypeError when the health listener uses the configuration's certificate and it has none.
 */
export function healthServingState(state: GuardState, tls: HealthTlsSource): GuardState {
  const { clientCertificatePolicy: _policy, ...rest } = state;
  const { tls: configTls, ...config } = state.config;
  const http = { ...config.http, http2: false };
  if (tls === undefined) return { ...rest, config: { ...config, http } };
  if (tls === 'config') {
    if (!configTls) throw new TypeError('listenHealth: tls: true uses the serving certificate of tls_server_config, and the configuration has none');
    return { ...rest, config: { ...config, http, tls: withoutClientCertificate(configTls) } };
  }
  return { ...rest, config: { ...config, http, tls } };
}
