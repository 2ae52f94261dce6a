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
import { BasicAuthCache, BasicAuthenticator } from './auth/basic.js';
import { createScrapeHandler, type GuardState, type ScrapeHandler } from './core/handle.js';
import { KeyedRateLimiter, TokenBucket } from './core/rate-limit.js';
import { createPipeline } from './exposition/pipeline.js';
import { compileRedaction } from './exposition/redact.js';
import { toMetricsSource, type MetricsSource, type MetricsSourceInput } from './exposition/source.js';
import { createLogfmtLogger, type Logger } from './log.js';
import { createSelfMetrics, noSelfMetrics, type SelfMetrics, type SelfMetricsRegistry } from './metrics/self.js';
import { compileClientCertificatePolicy } from './tls/server-options.js';
import { toNodeHandler, type NodeRequestHandler } from './adapters/http.js';
import { GuardServer, type ListeningAddress } from './adapters/server.js';

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
}

/** A configured guard. */
export interface Guard {
  /** The configuration in force. */
  readonly config: ResolvedConfig;
  /** Framework-free core: neutral request in, neutral response out. */
  readonly handle: ScrapeHandler;
  /** Handler for `http.createServer` / `https.createServer` / http2 compat servers. */
  readonly nodeHandler: NodeRequestHandler;
  /**
   * Serves on scrapeguard's own server (HTTPS when the config has TLS). Call once or more;
   * each call binds more addresses (`HOST:PORT`, `[::1]:PORT`, `:PORT`; port 0 picks one).
   */
  listen(addresses: string | readonly string[]): Promise<ListeningAddress[]>;
  /** Reloads now. Resolves true when a new config is in force, false when the last good one was kept. */
  reload(): Promise<boolean>;
  /** Stops listening, drains in-flight scrapes (up to `graceMs`, default 5000), releases watchers. */
  close(graceMs?: number): Promise<void>;
}

function sameLimit(a: { intervalMs: number; burst: number } | undefined, b: typeof a): boolean {
  return a !== undefined && b !== undefined && a.intervalMs === b.intervalMs && a.burst === b.burst;
}

/** Digest of everything in a config that affects serving, to skip reloads that change nothing. */
function configDigest(config: ResolvedConfig): string {
  return createHash('sha256')
    .update(JSON.stringify({ ...config, basicAuthUsers: [...config.basicAuthUsers], warnings: undefined }))
    // The key is not enumerable (so it never reaches a log); a key-only change must still count.
    .update(config.tls?.keyPem ?? '')
    .update(config.redaction.hashKey ?? '')
    .digest('hex');
}

async function buildState(
  config: ResolvedConfig,
  source: MetricsSource,
  cache: BasicAuthCache,
  metrics: SelfMetrics,
  previous?: GuardState,
): Promise<GuardState> {
  const now = Date.now();
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
            }),
          }
        : {}),
    },
    expose: createPipeline(source, { redactor: compileRedaction(config.redaction), metrics }),
  };
  if (config.tls) state.clientCertificatePolicy = compileClientCertificatePolicy(config.tls);
  // Keep rate-limit state across reloads when the limit itself did not change.
  if (config.rateLimit) {
    state.globalLimit =
      previous?.globalLimit && sameLimit(previous.config.rateLimit, config.rateLimit)
        ? previous.globalLimit
        : new TokenBucket(config.rateLimit, now);
  }
  const perClient = config.limits.perClientRateLimit;
  if (perClient) {
    state.clientLimit =
      previous?.clientLimit && sameLimit(previous.config.limits.perClientRateLimit, perClient)
        ? previous.clientLimit
        : new KeyedRateLimiter(perClient);
  }
  return state;
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
  if (typeof options !== 'object' || options === null) throw new TypeError('createGuard: options must be an object');
  const telemetryPath = options.telemetryPath ?? '/metrics';
  if (!telemetryPath.startsWith('/')) throw new TypeError(`createGuard: telemetryPath must start with "/", got ${JSON.stringify(telemetryPath)}`);
  const source = toMetricsSource(options.source);
  const logger = options.logger ?? createLogfmtLogger();
  const metrics: SelfMetrics = options.selfMetrics ? await createSelfMetrics(options.selfMetrics) : noSelfMetrics;
  const configInput = options.config;
  const load = (): Promise<ResolvedConfig> =>
    typeof configInput === 'string'
      ? loadConfigFile(configInput)
      : loadConfigObject(configInput ?? {}, options.baseDir !== undefined ? { baseDir: options.baseDir } : {});

  const cache = new BasicAuthCache();
  let state = await buildState(await load(), source, cache, metrics);
  let digest = configDigest(state.config);
  const announce = (config: ResolvedConfig) => {
    for (const warning of config.warnings) logger.warn(warning, config.file ? { file: config.file } : undefined);
    if (!config.tls) logger.warn('TLS is disabled: metrics and any credentials travel in clear text');
    metrics.servingCertificate(config.tls?.certificate.notAfter);
  };
  announce(state.config);

  const handle = createScrapeHandler({ telemetryPath, logger, metrics }, () => state);
  const nodeHandler = toNodeHandler(handle, logger);
  let server: GuardServer | undefined;
  let watcher: FileWatch | undefined;
  let closed = false;

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
      next = await buildState(config, source, cache, metrics, state);
      // Builds the new TLS server before anything changes: if Node refuses the settings
      // (TLS_SETUP), the current generation keeps serving.
      server?.apply(next);
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
    handle,
    nodeHandler,
    async listen(addresses) {
      if (closed) throw new TypeError('listen: the guard is closed');
      server ??= new GuardServer(nodeHandler, logger, metrics, state);
      const bound = await server.listen(typeof addresses === 'string' ? [addresses] : addresses);
      for (const b of bound) logger.info('listening', { address: b.url, tls: b.scheme === 'https', http2: state.config.tls ? state.config.http.http2 : false });
      return bound;
    },
    reload,
    async close(graceMs) {
      closed = true;
      watcher?.close();
      await running;
      await server?.close(graceMs);
    },
  };
}
