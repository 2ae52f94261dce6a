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
export { createGuard, type Guard, type GuardOptions } from './guard.js';
export { loadConfigFile, loadConfigObject, parseGoDuration, type LoadOptions } from './config/load.js';
export type * from './config/schema.js';
export {
  ScrapeguardError,
  ConfigError,
  formatConfigIssue,
  SCRAPEGUARD_ERROR_CODES,
  type ConfigIssue,
  type ScrapeguardErrorCode,
} from './errors.js';
export type { ScrapeRequest, ScrapeResponse } from './core/request.js';
export type { ScrapeHandler } from './core/handle.js';
export type { ListeningAddress } from './server/server.js';
export type { NodeRequestHandler } from './adapters/http.js';
export {
  toMetricsSource,
  defineMetricsSource,
  type MetricsSource,
  type MetricsSourceInput,
  type RegistryLike,
  type ClusterRegistryLike,
  type Exposition,
  type SourceOutput,
} from './exposition/source.js';
export type { TrustedProxyOptions, ForwardedClientCertificate } from './net/trusted-proxies.js';
export type { MountableGuard, MountOptions } from './adapters/mount.js';
export { upstreamSource, type UpstreamIdentityHeaders, type UpstreamOptions, type UpstreamTlsOptions } from './exposition/upstream.js';
export { ExpositionParseError, SourceError, type SourceFailureReason } from './exposition/failure.js';
export { parseExposition, sniffFormat } from './exposition/parse.js';
export { renderExposition, TEXT_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE, type RenderResult } from './exposition/render.js';
export { negotiateFormat, acceptsGzip, type NegotiatedFormat } from './exposition/negotiate.js';
export { createPipeline, type ExpositionPipeline, type ExposeOptions, type PipelineOptions, type RenderedExposition } from './exposition/pipeline.js';
export { compileRedaction, type Redactor, type RedactionReport, type RedactionRule } from './exposition/redact.js';
export { defaultRedaction } from './config/redaction.js';
export { SECRET_DETECTORS, SECRET_DETECTOR_NAMES, compileSecretDetection, maskedPreview, type SecretDetector } from './exposition/secrets.js';
export type { MetricFamily, Sample, Exemplar, MetricType, ExpositionFormat } from './exposition/model.js';
export { createLogfmtLogger, silentLogger, type Logger, type LogFields, type LogLevel } from './log.js';
export { aggregateLogs, type AggregatingLogger, type LogAggregationOptions } from './log-aggregate.js';
export type { SelfMetricsRegistry } from './metrics/self.js';
export type { ClientCertificateInfo, SubjectAltNames } from './tls/client-cert.js';
export { DEFAULT_TLS_PROFILE, type TlsProfile, type TlsName } from './tls/profile.js';
export { CLIENT_CERT_REFUSED_MESSAGE, CLIENT_CERT_REFUSAL_REASONS, type ClientCertRefusalReason } from './tls/handshake-failure.js';
export {
  generateCa,
  generateServerCert,
  generateClientCert,
  generateDevPki,
  type CertificateAndKey,
  type CertificateOptions,
  type DevPki,
  type DevPkiOptions,
  type KeyType,
} from './tools/pki/generate.js';
export type { AuditRecord, AuditSink } from './audit/audit.js';
export type { Principal, AuthMethod } from './auth/principal.js';
export type { SeriesFilter, LabelConstraint } from './access/filter.js';

export {
  generateScrapeConfig,
  generateOperatorManifests,
  scrapeConfigFromRequirements,
  operatorManifestsFromRequirements,
  type ScrapeConfigOptions,
  type OperatorManifestOptions,
  type ScrapeOptionsBase,
  type GeneratedScrapeConfig,
  type GeneratedOperatorManifests,
} from './tools/scrape-config/generate.js';
export {
  deriveRequirements,
  type ScrapeRequirements,
  type TlsRequirement,
  type AuthRequirement,
  type ClientCertDemand,
  type RequirementOptions,
  type OAuth2Options,
  type AuthChoice,
  type KnownBearerToken,
} from './tools/scrape-config/requirements.js';
export { CREDENTIAL_FILE_NAMES, type CredentialFiles, type ScrapePlan, type PlannedTls, type PlannedAuth } from './tools/scrape-config/plan.js';
export type { PrometheusScrapeJob, PrometheusTlsConfig } from './tools/scrape-config/prometheus.js';
export type { MonitorKind } from './tools/scrape-config/operator.js';
export { parsePrometheusVersion, FIELD_SINCE, DEFAULT_PROMETHEUS_VERSION, type PrometheusVersion } from './tools/scrape-config/versions.js';
