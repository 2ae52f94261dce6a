/**
 * The rule table of every options object of the public API, for {@link checkOptions}. One table per
 * TypeScript options type; `test/api-options.test.ts` reads those types with the compiler API and
 * fails when a table's keys and its type's properties differ, so an option cannot be added to a
 * type without being checked here.
 */
import { is, isObject, required, type OptionRule, type OptionSpec } from './options.js';

const logger: OptionRule = {
  expected: 'a logger with debug, info, warn and error functions',
  test: (v) => isObject(v) && ['debug', 'info', 'warn', 'error'].every((level) => typeof v[level] === 'function'),
};

const metricsSource: OptionRule = {
  expected: 'a prom-client-like registry (metrics(), contentType) or a function returning exposition text',
  test: (v) => typeof v === 'function' || (isObject(v) && typeof v.metrics === 'function' && typeof v.contentType === 'string'),
};

/** `TrustedProxyOptions`. */
export const TRUSTED_PROXY_OPTIONS: OptionSpec = {
  addresses: required(is.stringList),
  clientCertificate: is.either(
    is.oneOf('xfcc'),
    is.shape({ header: required(is.nonEmptyString), verifyHeader: is.nonEmptyString }, '{ header, verifyHeader? }'),
  ),
};

/** `GuardOptions` of `createGuard`. */
export const GUARD_OPTIONS: OptionSpec = {
  // `config: undefined` (an unset environment variable) must not mean "plain HTTP, no auth".
  config: { ...is.either(is.nonEmptyString, is.object), expected: 'a web-config.yml path or a config object', noUndefined: true },
  baseDir: is.nonEmptyString,
  source: required(metricsSource),
  telemetryPath: { expected: 'a path starting with "/"', test: (v) => typeof v === 'string' && v.startsWith('/'), echo: true },
  logger,
  selfMetrics: { expected: 'a prom-client registry (registerMetric())', test: (v) => isObject(v) && typeof v.registerMetric === 'function' },
  watch: is.boolean,
  watchPollMs: is.nonNegativeInteger,
  audit: is.function,
  trustedProxies: is.shape(TRUSTED_PROXY_OPTIONS, '{ addresses, clientCertificate? }'),
  acceptConfig: is.function,
};

/** `HealthListenOptions` of `Guard.listenHealth`. */
export const HEALTH_LISTEN_OPTIONS: OptionSpec = {
  tls: is.either(is.boolean, is.shape({ cert: required(is.pem), key: required(is.pem) }, '{ cert, key }')),
  readyWindowMs: is.positiveInteger,
};

/** `ListenOptions` of `Guard.listen`. */
export const LISTEN_OPTIONS: OptionSpec = {
  proxyProtocol: is.boolean,
};

/** `UpstreamTlsOptions`. */
export const UPSTREAM_TLS_OPTIONS: OptionSpec = {
  ca: is.pem,
  cert: is.pem,
  key: is.pem,
  serverName: is.nonEmptyString,
  insecureSkipVerify: is.boolean,
};

/** `UpstreamIdentityHeaders`. */
export const UPSTREAM_IDENTITY_HEADERS_OPTIONS: OptionSpec = {
  user: is.nonEmptyString,
  groups: is.nonEmptyString,
  method: is.nonEmptyString,
  groupsSeparator: is.nonEmptyString,
};

/** `UpstreamOptions` of `upstreamSource`. */
export const UPSTREAM_OPTIONS: OptionSpec = {
  url: required({ expected: 'a URL string or URL', test: (v) => typeof v === 'string' || v instanceof URL }),
  timeoutMs: is.positiveInteger,
  maxBytes: is.positiveInteger,
  tls: is.shape(UPSTREAM_TLS_OPTIONS),
  identityHeaders: is.either(is.boolean, is.shape(UPSTREAM_IDENTITY_HEADERS_OPTIONS, '{ user?, groups?, method?, groupsSeparator? }')),
  http2: is.boolean,
};

/** `MountOptions` of `expressMetrics` and `koaMetrics`. */
export const MOUNT_OPTIONS: OptionSpec = {
  path: { expected: 'a path starting with "/"', test: (v) => typeof v === 'string' && v.startsWith('/'), echo: true },
};

/** `MetricsHandlerOptions` of `metricsHandler`. */
export const METRICS_HANDLER_OPTIONS: OptionSpec = { ...MOUNT_OPTIONS, next: is.function };

/** `FastifyMetricsOptions` of the `fastifyMetrics` plugin. */
export const FASTIFY_METRICS_OPTIONS: OptionSpec = {
  ...MOUNT_OPTIONS,
  guard: required({
    expected: 'a guard from createGuard()',
    test: (v) => isObject(v) && typeof v.handle === 'function' && typeof v.telemetryPath === 'string',
  }),
};

/** Keys fastify itself puts into a plugin's options (`register(plugin, { prefix })`). */
export const FASTIFY_REGISTER_KEYS: readonly string[] = ['prefix', 'logLevel', 'logSerializers'];

/** `LoadOptions` of `loadConfigObject`. */
export const LOAD_OPTIONS: OptionSpec = { baseDir: is.nonEmptyString };

/** `PipelineOptions` of `createPipeline`. */
export const PIPELINE_OPTIONS: OptionSpec = {
  redactor: required({ expected: 'a compiled redaction (compileRedaction())', test: (v) => isObject(v) && typeof v.apply === 'function' }),
  metrics: is.object,
  limits: is.shape(
    {
      maxSeriesPerScrape: required(is.nonNegativeInteger),
      maxSeriesPerFamily: required(is.nonNegativeInteger),
      maxLabelsPerSeries: required(is.nonNegativeInteger),
      maxLabelValueBytes: required(is.nonNegativeInteger),
    },
    '{ maxSeriesPerScrape, maxSeriesPerFamily, maxLabelsPerSeries, maxLabelValueBytes }',
  ),
  logger,
};

/** The options object of `createLogfmtLogger`. */
export const LOGFMT_LOGGER_OPTIONS: OptionSpec = {
  level: is.oneOf('debug', 'info', 'warn', 'error'),
  write: is.function,
};
