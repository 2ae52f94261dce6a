/**
 * `scrapeguard/scrape-config`: the scraper's half of a web-config.yml — the Prometheus scrape job,
 * ServiceMonitor/PodMonitor manifests with their Secrets, and the credential files they read.
 * Pass the config a guard runs with: `generateScrapeConfig(guard.config, { targets })`.
 * @packageDocumentation
 */
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
} from './generate.js';
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
} from './requirements.js';
export { CREDENTIAL_FILE_NAMES, type CredentialFiles, type ScrapePlan, type PlannedTls, type PlannedAuth } from './plan.js';
export type { PrometheusScrapeJob, PrometheusTlsConfig } from './prometheus.js';
export type { MonitorKind } from './operator.js';
export { parsePrometheusVersion, FIELD_SINCE, DEFAULT_PROMETHEUS_VERSION, type PrometheusVersion } from './versions.js';
