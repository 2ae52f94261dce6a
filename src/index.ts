/**
 * scrapeguard: secure the Prometheus metrics endpoint of a Node.js service with the same
 * `web-config.yml` Go exporters read — HTTPS, mTLS, basic auth, limits, hot reload.
 *
 * @example
 * import { register } from 'prom-client';
 * import { createGuard } from 'scrapeguard';
 *
 * const guard = await createGuard({ config: 'web-config.yml', source: register });
 * await guard.listen('0.0.0.0:9443');
 *
 * @packageDocumentation
 */
export { createGuard, type Guard, type GuardOptions, type ListenOptions } from './guard.js';
export { metricsHandler, type MetricsHandlerOptions, type NodeRequestHandler } from './adapters/http.js';
export type { MountableGuard, MountOptions } from './adapters/mount.js';
export { upstreamSource, type UpstreamIdentityHeaders, type UpstreamOptions, type UpstreamTlsOptions } from './exposition/upstream.js';
export {
  defineMetricsSource,
  type MetricsSource,
  type MetricsSourceInput,
  type RegistryLike,
  type ClusterRegistryLike,
  type Exposition,
  type SourceOutput,
  type ProtobufOutput,
  type SourceRequest,
} from './exposition/source.js';
export { loadConfigFile, loadConfigObject, type LoadOptions } from './config/load.js';
export type * from './config/schema.js';
export { ScrapeguardError, ConfigError, formatConfigIssue, SCRAPEGUARD_ERROR_CODES, type ConfigIssue, type ScrapeguardErrorCode } from './errors.js';
export { createLogfmtLogger, silentLogger, type Logger, type LogFields, type LogLevel } from './log.js';
export { aggregateLogs, type AggregatingLogger, type LogAggregationOptions } from './log-aggregate.js';
export type { ScrapeRequest, ScrapeResponse } from './core/request.js';
export type { ScrapeHandler } from './core/handle.js';
export type { ListeningAddress } from './server/server.js';
export type { ListenAddresses } from './server/listen.js';
export type { HealthListenOptions, HealthTlsOptions } from './server/health.js';
export type { TrustedProxyOptions, ForwardedClientCertificate } from './net/trusted-proxies.js';
export type { SourceFailureReason } from './exposition/failure.js';
export type { SelfMetricsRegistry } from './metrics/self.js';
export type { ClientCertificateInfo, SubjectAltNames } from './tls/client-cert.js';
export type { AuditRecord, AuditSink } from './audit/audit.js';
export type { Principal, AuthMethod } from './auth/principal.js';
export type { SeriesFilter, LabelConstraint } from './access/filter.js';
