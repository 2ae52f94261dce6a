/**
 * `createGuard`: the one entry point. It loads and validates the configuration, compiles it into
 * a {@link GuardState}, and exposes the core handler, a node:http handler and a standalone server.
 * Reloads (file watch, SIGHUP via `reload()`) build a new state; an invalid change keeps the last
 * good one, logs why and counts it.
 */
import { createHash } from 'node:crypto';
import type { ResolvedConfig, WebConfigInput } from './config/schema.js';
import { loadConfigFile, loadConfigObject } from './config/load.js';
import { watchFiles, type FileWatch } from './config/watch.js';
import { BasicAuthCache, BasicAuthenticator, DEFAULT_FAILURE_PACING, FailurePacer } from './auth/basic.js';
import { BearerAuthenticator } from './auth/bearer.js';
import { ClientCertIdentity } from './auth/identity.js';
import { JwtAuthenticator } from './auth/jwt.js';
import { HeaderKeyAuthenticator } from './auth/header.js';
import { AccessRules } from './access/rules.js';
import { AuditLog, type AuditRecord, type AuditSink } from './audit/audit.js';
import { AuthFailureBackoff } from './core/auth-backoff.js';
import { ConfigError } from './errors.js';
import { createScrapeHandler, type GuardState, type ScrapeHandler } from './core/handle.js';
import { InflightScrapes } from './core/inflight.js';
import type { ScrapeRequest, ScrapeResponse } from './core/request.js';
import { plainReply } from './core/reply.js';
import { compileTrustedProxies, trustedPeerCheck, type TrustedProxyOptions } from './net/trusted-proxies.js';
import { compileNetworks } from './net/networks.js';
import { KeyedRateLimiter, TokenBucket } from './core/rate-limit.js';
import { createPipeline } from './exposition/pipeline.js';
import { compileRedaction } from './exposition/redact.js';
import { toMetricsSource, type MetricsSource, type MetricsSourceInput } from './exposition/source.js';
import { createLogfmtLogger, type Logger } from './log.js';
import { aggregateLogs } from './log-aggregate.js';
import { createSelfMetrics, noSelfMetrics, type SelfMetrics, type SelfMetricsRegistry } from './metrics/self.js';
import type { TlsOptions } from 'node:tls';
import { compileClientCertificatePolicy, tlsServerOptions } from './tls/server-options.js';
import { createPeerVerifier } from './tls/verify-chain.js';
import { toNodeHandler, type NodeRequestHandler } from './adapters/http.js';
import { GuardServer, type ListeningAddress } from './server/server.js';
import { checkOptions } from './options.js';
import { GUARD_OPTIONS, HEALTH_LISTEN_OPTIONS, LISTEN_OPTIONS } from './api-options.js';
import { listenAddresses, type ListenAddresses } from './server/listen.js';
import {
  DEFAULT_READY_WINDOW_MS,
  healthHandler,
  healthServingState,
  ownHealthTls,
  SourceHealth,
  type HealthListenOptions,
  type HealthTlsSource,
} from './server/health.js';

/** Options of {@link createGuard}. */
export interface GuardOptions {
  /**
   * Path of a `web-config.yml`, or the same document as an object. Absent: plain HTTP without
   * authentication (a warning is logged), as exporters behave without `--web.config.file`.
   */
  config?: string | WebConfigInput;
  /** Directory for relative paths in an object config (default `process.cwd()`). */
  baseDir?: string;
  /**
   * Where metrics come from: a prom-client-like registry (JSON fast path when it has
   * `getMetricsAsJSON()`), a function returning exposition text, or `upstreamSource({ url })`.
   */
  source: MetricsSourceInput;
  /** Path served (default `/metrics`); every other path is 404. */
  telemetryPath?: string;
  /** Logger (default: logfmt lines on stderr at level info). */
  logger?: Logger;
  /** A prom-client registry to register scrapeguard's own metrics in (opt-in). */
  selfMetrics?: SelfMetricsRegistry;
  /** Watch config, certificate, key and CA files and reload on change (default true). */
  watch?: boolean;
  /** Stat poll interval backing up file watching, ms (default 30000; 0 disables). */
  watchPollMs?: number;
  /**
   * Receives one {@link AuditRecord} per request, in addition to (or without) the config's
   * `audit_log`. Called synchronously after the response is built (for a streamed scrape, larger
   * than `STREAM_THRESHOLD_BYTES`, once its last byte went out, with the bytes and series sent);
   * must be quick and not throw (a throw is caught, logged and counted, and the scrape is still
   * answered).
   */
  audit?: AuditSink;
  /**
   * TLS-terminating proxies whose forwarding headers (`X-Forwarded-Proto`, `X-Forwarded-For`, the
   * client certificate header) are believed. From any other peer those headers are ignored and
   * logged. Absent: no forwarding header is ever believed.
   */
  trustedProxies?: TrustedProxyOptions;
  /**
   * A last say over each configuration before it takes effect, at start and on every reload
   * (`serve` refuses plaintext credentials with it). Throwing refuses the config: `createGuard`
   * rejects, a reload keeps the last good configuration and logs the error's message.
   */
  acceptConfig?: (config: ResolvedConfig) => void;
}

/** Options of {@link Guard.listen}, for the addresses of that call. */
export interface ListenOptions {
  /**
   * PROXY protocol (v1 and v2) from the `trustedProxies`: an L4 load balancer in front of these
   * addresses (HAProxy `send-proxy-v2`, AWS NLB with proxy protocol) opens each connection with a
   * header naming the client, and that address is the one `allowed_networks`, the connection
   * budgets, the rate limits, the logs and the audit log see. A trusted proxy that sends no header
   * is refused; a header from any other peer is refused. Requires `trustedProxies`. Default false.
   */
  proxyProtocol?: boolean;
}

/** A configured guard. */
export interface Guard {
  /** The configuration in force. */
  readonly config: ResolvedConfig;
  /** The path metrics are served on (`telemetryPath`, default `/metrics`); adapters route on it. */
  readonly telemetryPath: string;
  /**
   * Framework-free core: neutral request in, neutral response out. Applies `trustedProxies`,
   * verifies a presented client chain against the config's `client_ca` itself, never rejects
   * (an internal failure is logged and answered `500`), and answers `503` once the guard is closed.
   */
  readonly handle: ScrapeHandler;
  /** Handler for `http.createServer` / `https.createServer` / http2 compat servers. */
  readonly nodeHandler: NodeRequestHandler;
  /**
   * Serves on scrapeguard's own server (HTTPS when the config has TLS). Call once or more;
   * each call binds more addresses (`HOST:PORT`, `[::1]:PORT`, `:PORT`; port 0 picks one). A bare
   * port number binds every interface when the config has TLS and `127.0.0.1` when it has not
   * (what `scrapeguard serve` does without `--web.listen-address`).
   * @throws TypeError for anything that is not an address, before anything is bound.
   * @example
   * await guard.listen(':9443', { proxyProtocol: true }); // behind HAProxy send-proxy-v2
   */
  listen(addresses: ListenAddresses, options?: ListenOptions): Promise<ListeningAddress[]>;
  /**
   * Serves `GET /healthz` (alive) and `GET /readyz` (configuration in force; for an upstream
   * source, the upstream answered recently) on a listener of their own, and nothing else: every
   * other path is 404, metrics are never served there. Plain HTTP unless `options.tls`; never asks
   * for a client certificate, so kubelet probes work while the metrics listener requires one.
   * Same bounds as {@link listen} (the config's `limits`), with a connection budget of its own.
   * Call once or more (later calls bind more addresses with the first call's options). A bare
   * port binds `127.0.0.1` for plain HTTP and every interface with TLS.
   * @throws TypeError for an address or option that is invalid, before anything is bound.
   * @example
   * await guard.listen(':9443');            // metrics: mTLS
   * await guard.listenHealth(':8081');      // probes: plain HTTP on the pod IP
   */
  listenHealth(addresses: ListenAddresses, options?: HealthListenOptions): Promise<ListeningAddress[]>;
  /**
   * TLS options for a server you create yourself (mounted mode), from the config in force: its
   * certificate and key, the client CA, `requestCert` when `client_auth_type` asks for a
   * certificate (the guard cannot see one the server never asked for), the TLS profile's versions,
   * suites and groups. `rejectUnauthorized` is false: the guard decides the client-certificate
   * policy itself, on every request. `undefined` when the config has no TLS. A fresh object per
   * call: after a certificate rotation (`reload()` resolving true), hand the new one to
   * `server.setSecureContext()`.
   * @example
   * https.createServer(guard.tlsOptions(), metricsHandler(guard, { next: app })).listen(8443);
   */
  tlsOptions(): TlsOptions | undefined;
  /** Reloads now. Resolves true when a new config is in force, false when the last good one was kept. */
  reload(): Promise<boolean>;
  /** Reopens the `audit_log` file at its path (after logrotate moved it); `serve` calls it on SIGHUP. */
  reopenAuditLog(): void;
  /**
   * Stops listening, answers new scrapes through any adapter with `503`, lets in-flight scrapes
   * finish (up to `graceMs`, default 5000), and releases file watchers and timers: after it
   * resolves, nothing of the guard keeps the process alive.
   */
  close(graceMs?: number): Promise<void>;
}

function sameLimit(a: { intervalMs: number; burst: number } | undefined, b: typeof a): boolean {
  return a !== undefined && b !== undefined && a.intervalMs === b.intervalMs && a.burst === b.burst;
}

/** Digest of everything in a config that affects serving, to skip reloads that change nothing. */
function configDigest(config: ResolvedConfig): string {
  return (
    createHash('sha256')
      .update(JSON.stringify({ ...config, basicAuthUsers: [...config.basicAuthUsers], warnings: undefined }))
      // The key is not enumerable (so it never reaches a log); a key-only change must still count.
      .update(config.tls?.keyPem ?? '')
      .update(config.jwtAuth?.secretDigest ?? '')
      .update(config.redaction.hashKey ?? '')
      .digest('hex')
  );
}

function sameBackoff(a: GuardState['authBackoff'], b: ResolvedConfig['limits']['authFailureBackoff']): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a.settings) === JSON.stringify(b);
}

async function buildState(
  config: ResolvedConfig,
  source: MetricsSource,
  cache: BasicAuthCache,
  metrics: SelfMetrics,
  telemetryPath: string,
  previous?: GuardState,
  logger?: Logger,
): Promise<GuardState> {
  const now = Date.now();
  const excluded = (config.authExcludedPaths ?? []).find((e) => e.path === telemetryPath);
  if (excluded && !excluded.force) {
    // The validator refuses the default path; the telemetry path in force is only known here.
    throw new ConfigError([
      {
        ...(config.file !== undefined ? { file: config.file } : {}),
        path: 'auth_excluded_paths',
        message: `${telemetryPath} is the telemetry path: excluding it serves the metrics without authentication; write {path: ${telemetryPath}, force: true} if that is really meant`,
      },
    ]);
  }
  const state: {
    -readonly [K in keyof GuardState]: GuardState[K];
  } = {
    config,
    // Lower-cased so a configured `X-Content-Type-Options` and the core's default are one header.
    responseHeaders: Object.fromEntries(Object.entries(config.http.headers).map(([k, v]) => [k.toLowerCase(), v])),
    authenticators: {
      ...(config.basicAuthUsers.size > 0
        ? {
            basic: await BasicAuthenticator.create(config.basicAuthUsers, cache, {
              maxConcurrent: config.limits.maxConcurrentBcrypt,
              onBcrypt: (seconds) => metrics.bcrypt(seconds),
              // Kept across reloads, so a reload does not lift a failing source's pacing.
              pacer: previous?.authenticators.basic?.failurePacer ?? new FailurePacer(DEFAULT_FAILURE_PACING),
            }),
          }
        : {}),
      ...(config.bearerAuth ? { bearer: new BearerAuthenticator(config.bearerAuth) } : {}),
      ...(config.headerAuth ? { header: new HeaderKeyAuthenticator(config.headerAuth) } : {}),
      ...(config.jwtAuth ? { jwt: JwtAuthenticator.create(config.jwtAuth, previous?.authenticators.jwt) } : {}),
      ...(config.clientCertAuth ? { clientCert: new ClientCertIdentity(config.clientCertAuth) } : {}),
    },
    ...(config.authExcludedPaths ? { excludedPaths: new Set(config.authExcludedPaths.map((e) => e.path)) } : {}),
    ...(config.accessRules ? { access: new AccessRules(config.accessRules) } : {}),
    ...(config.allowedNetworks ? { allowedNetworks: compileNetworks(config.allowedNetworks) } : {}),
    expose: createPipeline(source, {
      redactor: compileRedaction(config.redaction),
      metrics,
      ...(config.limits.series ? { limits: config.limits.series } : {}),
      ...(logger ? { logger } : {}),
    }),
  };
  if (config.tls) state.clientCertificatePolicy = compileClientCertificatePolicy(config.tls);
  // Keep rate-limit state across reloads when the limit itself did not change.
  if (config.rateLimit) {
    state.globalLimit =
      previous?.globalLimit && sameLimit(previous.config.rateLimit, config.rateLimit) ? previous.globalLimit : new TokenBucket(config.rateLimit, now);
  }
  const perClient = config.limits.perClientRateLimit;
  if (perClient) {
    state.clientLimit =
      previous?.clientLimit && sameLimit(previous.config.limits.perClientRateLimit, perClient) ? previous.clientLimit : new KeyedRateLimiter(perClient);
  }
  const backoff = config.limits.authFailureBackoff;
  if (backoff) {
    // Keep the failure counts across reloads (an attacker must not reset them by waiting for one).
    state.authBackoff = sameBackoff(previous?.authBackoff, backoff) ? previous!.authBackoff! : new AuthFailureBackoff(backoff);
  }
  return state;
}

/** A short text answer outside the core: 503 after `close()`, 500 when the core itself failed. */
function plainAnswer(state: GuardState, status: number, method: string, text: string): ScrapeResponse {
  // The configured security headers go on these answers too, as on every answer of the core.
  return plainReply({ status, method, body: text, responseHeaders: state.responseHeaders });
}

/**
 * Creates a guard from a configuration and a metrics source.
 * @example
 * import { register } from 'prom-client';
 * import { createGuard } from 'scrapeguard';
 *
 * const guard = await createGuard({ config: '/etc/scrapeguard/web-config.yml', source: register });
 * await guard.listen('0.0.0.0:9443');
 */
export async function createGuard(options: GuardOptions): Promise<Guard> {
  checkOptions('createGuard', options, GUARD_OPTIONS);
  // A copy: later reads (watch, baseDir, acceptConfig) must not see changes the caller makes.
  options = { ...options };
  const telemetryPath = options.telemetryPath ?? '/metrics';
  if (!telemetryPath.startsWith('/')) throw new TypeError(`createGuard: telemetryPath must start with "/", got ${JSON.stringify(telemetryPath)}`);
  // Notes the source's successful answers, for the health listener's /readyz.
  const sourceHealth = new SourceHealth(toMetricsSource(options.source));
  const source = sourceHealth.source;
  const logger = options.logger ?? createLogfmtLogger();
  // What peers can make the guard repeat goes through the aggregator (docs/logging.md); the
  // guard's own life-cycle lines (listening, reloads, config warnings) are written as they come.
  const requestLogger = aggregateLogs(logger);
  const metrics: SelfMetrics = options.selfMetrics ? await createSelfMetrics(options.selfMetrics) : noSelfMetrics;
  const configInput = options.config;
  const load = async (): Promise<ResolvedConfig> => {
    const config =
      typeof configInput === 'string'
        ? await loadConfigFile(configInput)
        : await loadConfigObject(configInput ?? {}, options.baseDir !== undefined ? { baseDir: options.baseDir } : {});
    options.acceptConfig?.(config);
    return config;
  };

  const cache = new BasicAuthCache();
  let state = await buildState(await load(), source, cache, metrics, telemetryPath, undefined, requestLogger);
  let auditLog: AuditLog | undefined;
  const auditCallback = options.audit;
  if (auditCallback !== undefined && typeof auditCallback !== 'function') throw new TypeError('createGuard: audit must be a function');
  /** Opens, keeps or replaces the audit destination of the config in force. */
  const applyAuditConfig = (config: ResolvedConfig): void => {
    const wanted = config.auditLog;
    if (auditLog && wanted && JSON.stringify(auditLog.config) === JSON.stringify(wanted)) return;
    void auditLog?.close();
    auditLog = wanted ? new AuditLog(wanted, { logger: requestLogger, metrics }) : undefined;
  };
  applyAuditConfig(state.config);
  const writeToLog = (record: AuditRecord) => auditLog?.write(record);
  const both: AuditSink = (record) => {
    auditLog?.write(record);
    auditCallback?.(record);
  };
  const currentAudit = (): AuditSink | undefined => (auditCallback ? both : auditLog ? writeToLog : undefined);
  let digest = configDigest(state.config);
  const announce = (config: ResolvedConfig) => {
    for (const warning of config.warnings) logger.warn(warning, config.file ? { file: config.file } : undefined);
    if (!config.tls) logger.warn('TLS is disabled: metrics and any credentials travel in clear text');
    metrics.servingCertificate(config.tls?.certificate.notAfter);
  };
  announce(state.config);

  const core = createScrapeHandler({ telemetryPath, logger: requestLogger, metrics, audit: currentAudit }, () => state);
  const forwarded = compileTrustedProxies(options.trustedProxies, requestLogger, metrics);
  const trustedPeer = trustedPeerCheck(options.trustedProxies);
  const verifyPeer = createPeerVerifier();
  // What the core sees: the client's view (forwarded by a trusted proxy, or the socket's), with
  // "verified" decided against this config's client_ca, not the serving socket's trust store.
  const identify = (request: ScrapeRequest): ScrapeRequest => {
    const caPem = state.config.tls?.clientCaPem;
    return verifyPeer(forwarded(request, caPem), caPem);
  };
  const inflight = new InflightScrapes();
  let server: GuardServer | undefined;
  let health: { server: GuardServer; tls: HealthTlsSource; kind: string; readyWindowMs: number } | undefined;
  let watcher: FileWatch | undefined;
  let closed = false;
  const handle: ScrapeHandler = (request) => {
    if (closed) return Promise.resolve(plainAnswer(state, 503, request.method, 'Service Unavailable: shutting down\n'));
    // Never rejects, so no adapter needs its own error path: an unexpected failure is logged and
    // answered with 500 (nothing of the request or of a credential goes into the line).
    return inflight
      .track(() => core(identify(request)))
      .catch((error: unknown) => {
        requestLogger.error('scrape failed', { error: error instanceof Error ? error.message : String(error) });
        return plainAnswer(state, 500, request.method, 'Internal Server Error\n');
      });
  };
  const nodeHandler = toNodeHandler(handle, requestLogger);

  const startWatching = () => {
    watcher?.close();
    if (options.watch === false || closed) return;
    watcher = watchFiles(state.config.dependsOn, () => void reload(), {
      ...(options.watchPollMs !== undefined ? { pollMs: options.watchPollMs } : {}),
      onWatchError: (dir, error) => logger.warn('cannot watch directory; relying on polling', { dir, error: error.message }),
    });
  };

  // Reloads run one at a time; a request during a reload waits for it and then runs again.
  let running: Promise<boolean> | undefined;
  let again = false;
  let lastReloadFailed = false;
  const reloadOnce = async (): Promise<boolean> => {
    let next: GuardState;
    try {
      const config = await load();
      const nextDigest = configDigest(config);
      if (nextDigest === digest) {
        // The files are back to the config in force (e.g. a broken edit was undone): that reload
        // succeeded, so clear the failure state instead of leaving last_reload_successful at 0.
        if (lastReloadFailed) {
          lastReloadFailed = false;
          metrics.configReload('success');
        }
        return true;
      }
      next = await buildState(config, source, cache, metrics, telemetryPath, state, requestLogger);
      // Throws (refusing the reload) when the health listener serves the config's certificate
      // and the new config has none.
      const nextHealth = health ? healthServingState(next, health.tls) : undefined;
      // Builds the new TLS server before anything changes: if Node refuses the settings
      // (TLS_SETUP), the current generation keeps serving.
      server?.apply(next);
      if (nextHealth) health?.server.apply(nextHealth);
      digest = nextDigest;
    } catch (error) {
      lastReloadFailed = true;
      metrics.configReload('failure');
      logger.error('configuration reload failed; keeping the last good configuration', {
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
    state = next;
    applyAuditConfig(state.config);
    lastReloadFailed = false;
    metrics.configReload('success');
    logger.info('configuration reloaded', state.config.file ? { file: state.config.file } : undefined);
    announce(state.config);
    startWatching();
    return true;
  };
  const reload = (): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let ok = await reloadOnce();
      while (again) {
        again = false;
        ok = await reloadOnce();
      }
      running = undefined;
      return ok;
    })();
    return running;
  };

  startWatching();

  return {
    get config() {
      return state.config;
    },
    telemetryPath,
    handle,
    nodeHandler,
    async listen(addresses, listenOptions = {}) {
      if (closed) throw new TypeError('listen: the guard is closed');
      checkOptions('listen', listenOptions, LISTEN_OPTIONS);
      const proxyProtocol = listenOptions.proxyProtocol === true;
      if (proxyProtocol && !trustedPeer) throw new TypeError('listen: proxyProtocol needs trustedProxies (the addresses allowed to send PROXY headers)');
      const wanted = listenAddresses(addresses, state.config.tls !== undefined);
      server ??= new GuardServer(nodeHandler, requestLogger, metrics, state, trustedPeer);
      const bound = await server.listen(wanted, { proxyProtocol });
      for (const b of bound) {
        logger.info('listening', {
          address: b.url,
          tls: b.scheme === 'https',
          http2: state.config.tls ? state.config.http.http2 : false,
          ...(proxyProtocol ? { proxy_protocol: true } : {}),
        });
      }
      return bound;
    },
    async listenHealth(addresses, healthOptions = {}) {
      if (closed) throw new TypeError('listenHealth: the guard is closed');
      checkOptions('listenHealth', healthOptions, HEALTH_LISTEN_OPTIONS);
      const tlsOption = healthOptions.tls;
      const kind = tlsOption === true ? 'config' : typeof tlsOption === 'object' ? 'own' : 'plain';
      if (health && health.kind !== kind)
        throw new TypeError(
          `listenHealth: the health listener already serves ${health.kind === 'plain' ? 'plain HTTP' : 'TLS'} with other settings; give the same tls option`,
        );
      const wanted = listenAddresses(addresses, kind !== 'plain');
      if (!health) {
        const tls: HealthTlsSource = kind === 'config' ? 'config' : typeof tlsOption === 'object' ? ownHealthTls(tlsOption, state.config) : undefined;
        const readyWindowMs = healthOptions.readyWindowMs ?? DEFAULT_READY_WINDOW_MS;
        const ready = async () => !closed && (await sourceHealth.ready(readyWindowMs));
        health = { server: new GuardServer(healthHandler(ready), requestLogger, metrics, healthServingState(state, tls)), tls, kind, readyWindowMs };
      }
      const bound = await health.server.listen(wanted);
      for (const b of bound) logger.info('health listener', { address: b.url, tls: b.scheme === 'https', paths: '/healthz,/readyz' });
      return bound;
    },
    tlsOptions() {
      return state.config.tls ? tlsServerOptions(state.config.tls) : undefined;
    },
    reload,
    reopenAuditLog() {
      auditLog?.reopen();
    },
    async close(graceMs = 5000) {
      if (typeof graceMs !== 'number' || !(graceMs >= 0) || graceMs === Infinity) {
        throw new TypeError(`close: graceMs must be a non-negative number of milliseconds, got ${typeof graceMs === 'number' ? graceMs : typeof graceMs}`);
      }
      closed = true;
      watcher?.close();
      watcher = undefined;
      await running;
      await Promise.all([server?.close(graceMs), health?.server.close(graceMs), inflight.drain(graceMs)]);
      await auditLog?.close();
      requestLogger.close();
    },
  };
}
