/**
 * The public scrape-config API: from a validated configuration (or requirements built by hand)
 * to the Prometheus `scrape_configs` entry or the prometheus-operator manifests, with the
 * warnings about what the scraper cannot match. Composes requirements → plan → renderer.
 */
import { dirname } from 'node:path';
import type { ResolvedConfig } from '../../config/schema.js';
import { ScrapeguardError } from '../../errors.js';
import { kubectlCreateSecret, manifestsYaml, renderOperatorManifests, type MonitorKind } from './operator.js';
import { planScrape, type CredentialFiles, type ScrapePlan } from './plan.js';
import { prometheusYaml, renderPrometheusJob, type PrometheusScrapeJob } from './prometheus.js';
import { deriveRequirements, type RequirementOptions, type ScrapeRequirements } from './requirements.js';
import {
  DEFAULT_OPERATOR_VERSION,
  DEFAULT_PROMETHEUS_VERSION,
  formatVersion,
  OLDEST_OPERATOR_VERSION,
  parseOperatorVersion,
  parsePrometheusVersion,
  type OperatorVersion,
  type PrometheusVersion,
} from './versions.js';
import { checkOptions } from '../../options.js';
import { OPERATOR_MANIFEST_OPTIONS, REQUIREMENT_OPTIONS, SCRAPE_CONFIG_OPTIONS } from '../api-options.js';

/** Options shared by both output formats. */
export interface ScrapeOptionsBase extends RequirementOptions {
  /** Path of the metrics (default `/metrics`). */
  metricsPath?: string;
  /** Name to verify the server certificate against (default: each target's host, else a name of the certificate). */
  serverName?: string;
  /**
   * Where the scraper's files are or will be: `ca.crt`, `client.crt`, `client.key`, `password`,
   * `token`, `client-secret` (the layout `scrapeguard init` writes). Missing files are warnings.
   * Default: the web config's directory, where missing files the scraper needs are errors.
   */
  credentialsDir?: string;
  /** Files given one by one (they must exist); they win over the credentials directory. */
  files?: CredentialFiles;
  /**
   * Oldest Prometheus the config is for (`"2.42"`, `"3.5"`; default 3.5, the current LTS): fields
   * it does not know are left out, and a credential it cannot express is an error.
   */
  prometheusVersion?: string | PrometheusVersion;
  /**
   * The target can serve native histograms: `serve --upstream` in front of a client_golang
   * exporter or another Prometheus. The job then lists `PrometheusProto` first in
   * `scrape_protocols` (2.49+), and sets `scrape_native_histograms` (3.8+).
   */
  nativeHistograms?: boolean;
  /** Directory relative paths resolve against (default `process.cwd()`). */
  baseDir?: string;
  /** Clock for certificate validity checks (default now). */
  now?: Date;
}

/** Options of {@link generateScrapeConfig}. */
export interface ScrapeConfigOptions extends ScrapeOptionsBase {
  /** `HOST:PORT` of each instance serving this configuration (`[IPv6]:PORT`). */
  targets: readonly string[];
  /** `job_name` (default `scrapeguard`). */
  jobName?: string;
  /** Per-job `scrape_interval` (default: the global one). */
  scrapeInterval?: string;
}

/** Options of {@link generateOperatorManifests}. */
export interface OperatorManifestOptions extends ScrapeOptionsBase {
  /** Default `ServiceMonitor`; `ScrapeConfig` (monitoring.coreos.com/v1alpha1) scrapes static {@link targets}. */
  kind?: MonitorKind;
  /**
   * Oldest prometheus-operator release to support (`"0.80"`, `"v0.76.2"`; default 0.80): fields
   * its CRDs do not know are left out (with a warning) or, when the credential depends on them,
   * an error.
   */
  operatorVersion?: string | OperatorVersion;
  /** `HOST:PORT` of each target; only (and required) for `ScrapeConfig`. */
  targets?: readonly string[];
  /** Name of the monitor (default `scrapeguard`). */
  name?: string;
  namespace?: string;
  /** Labels of the Services/Pods to scrape; at least one (an empty selector matches everything). Required except for `ScrapeConfig`. */
  selector?: Readonly<Record<string, string>>;
  /** Service or container port name (default `metrics`). */
  port?: string;
  /** Scrape interval of the endpoint. */
  interval?: string;
  /** Put the file contents into a Secret manifest (default true). */
  embedSecrets?: boolean;
  secretName?: string;
}

/** What {@link generateScrapeConfig} produced. */
export interface GeneratedScrapeConfig {
  /** `scrape_configs:` with the one job, ready for `prometheus.yml` (a leading comment names the source). */
  yaml: string;
  job: PrometheusScrapeJob;
  /** What the scraper cannot match or what looks wrong, one line each; never a secret. */
  warnings: string[];
  requirements: ScrapeRequirements;
  plan: ScrapePlan;
}

/** What {@link generateOperatorManifests} produced. */
export interface GeneratedOperatorManifests {
  /** Multi-document YAML: the Secret (when embedded), then the monitor. */
  yaml: string;
  documents: Record<string, unknown>[];
  warnings: string[];
  /** With `embedSecrets: false`: the command that creates the Secret from the same files. */
  createSecretCommand?: string;
  requirements: ScrapeRequirements;
  plan: ScrapePlan;
}

/** Secret keys whose values are secret (the CA and client certificates are public). */
const SECRET_KEYS: ReadonlySet<string> = new Set(['tls.key', 'password', 'token', 'client-secret']);

function version(v: string | PrometheusVersion | undefined): PrometheusVersion {
  if (v === undefined) return DEFAULT_PROMETHEUS_VERSION;
  if (typeof v === 'object' && Number.isInteger(v.major) && Number.isInteger(v.minor) && v.major >= 2) return v;
  const parsed = typeof v === 'string' ? parsePrometheusVersion(v) : undefined;
  if (!parsed) throw new ScrapeguardError('SCRAPE_CONFIG', `Prometheus version ${JSON.stringify(v)} is not MAJOR.MINOR (2.x or later), e.g. 2.42`);
  return parsed;
}

function operatorVersion(v: string | OperatorVersion | undefined): OperatorVersion {
  if (v === undefined) return DEFAULT_OPERATOR_VERSION;
  const parsed =
    typeof v === 'string'
      ? parseOperatorVersion(v)
      : typeof v === 'object' && Number.isInteger(v.major) && Number.isInteger(v.minor)
        ? parseOperatorVersion(`${v.major}.${v.minor}`)
        : undefined;
  if (!parsed)
    throw new ScrapeguardError(
      'SCRAPE_CONFIG',
      `prometheus-operator version ${JSON.stringify(v)} is not MAJOR.MINOR from ${formatVersion(OLDEST_OPERATOR_VERSION)} on, e.g. 0.80`,
    );
  return parsed;
}

function planOptions(options: ScrapeOptionsBase, targets: readonly string[], fallbackDir: string | undefined, discovered: boolean, operator?: OperatorVersion) {
  return {
    targets,
    prometheusVersion: version(options.prometheusVersion),
    discoveredTargets: discovered,
    ...(operator !== undefined ? { operatorVersion: operator } : {}),
    ...(options.nativeHistograms !== undefined ? { nativeHistograms: options.nativeHistograms } : {}),
    ...(options.serverName !== undefined ? { serverName: options.serverName } : {}),
    ...(options.files !== undefined ? { files: options.files } : {}),
    ...(options.credentialsDir !== undefined ? { credentialsDir: options.credentialsDir } : {}),
    ...(fallbackDir !== undefined ? { fallbackDir } : {}),
    ...(options.baseDir !== undefined ? { baseDir: options.baseDir } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  };
}

function checkOptionsObject(name: string, options: unknown): void {
  checkOptions(name, options, name === 'generateOperatorManifests' ? OPERATOR_MANIFEST_OPTIONS : SCRAPE_CONFIG_OPTIONS);
}

/** The part of the options {@link deriveRequirements} reads (it refuses keys it does not know). */
function requirementOptions(options: RequirementOptions): RequirementOptions {
  return Object.fromEntries(
    Object.keys(REQUIREMENT_OPTIONS)
      .filter((k) => Object.hasOwn(options, k))
      .map((k) => [k, options[k as keyof RequirementOptions]]),
  );
}

function headerComment(source: string | undefined, v: PrometheusVersion, format: 'prometheus' | 'operator', operator?: OperatorVersion): string {
  const first = ` Generated by scrapeguard scrape-config${source !== undefined ? ` from ${source}` : ''} for Prometheus ${formatVersion(v)}+${
    operator !== undefined ? ` and prometheus-operator ${formatVersion(operator)}+` : ''
  }.`;
  return format === 'prometheus'
    ? `${first}\n Secrets are referenced by file; keep those files readable only by Prometheus.`
    : `${first}\n Credentials are read from the Secret by key; the Secret lives in the monitor's namespace.`;
}

/**
 * Renders the scrape job for requirements built by any means (the config-independent path:
 * tests and new authentication methods construct {@link ScrapeRequirements} directly).
 * @example
 * const out = await scrapeConfigFromRequirements(
 *   { scheme: 'https', tls: { serverCertPem, clientCert: 'none', clientCertVerified: false, minVersion: 'TLS12', maxVersion: 'TLS13' }, labelDrops: [] },
 *   { targets: ['localhost:9443'], files: { caFile: 'ca.crt' } },
 * );
 */
export async function scrapeConfigFromRequirements(
  requirements: ScrapeRequirements,
  options: ScrapeConfigOptions,
  source?: { file?: string; fallbackDir?: string },
): Promise<GeneratedScrapeConfig> {
  checkOptionsObject('generateScrapeConfig', options);
  if (!Array.isArray(options.targets)) throw new TypeError('generateScrapeConfig: targets must be an array of "HOST:PORT" strings');
  const opts = planOptions(options, options.targets, source?.fallbackDir, false);
  const plan = await planScrape(requirements, opts);
  const job = renderPrometheusJob(plan, {
    jobName: options.jobName ?? 'scrapeguard',
    metricsPath: options.metricsPath ?? '/metrics',
    prometheusVersion: opts.prometheusVersion,
    ...(options.scrapeInterval !== undefined ? { scrapeInterval: options.scrapeInterval } : {}),
  });
  return { yaml: prometheusYaml([job], headerComment(source?.file, opts.prometheusVersion, 'prometheus')), job, warnings: plan.warnings, requirements, plan };
}

/**
 * Generates the Prometheus scrape job that matches a configuration: scheme, `tls_config`
 * (CA, client certificate, server name, TLS versions), the credential by file, label drops.
 * @example
 * import { generateScrapeConfig, loadConfigFile } from 'scrapeguard';
 *
 * const config = await loadConfigFile('/etc/scrapeguard/web-config.yml');
 * const { yaml, warnings } = await generateScrapeConfig(config, {
 *   targets: ['api-1.internal:9443', 'api-2.internal:9443'],
 *   jobName: 'api',
 *   credentialsDir: '/etc/prometheus/scrapeguard',
 * });
 * for (const w of warnings) console.warn(w);
 * console.log(yaml);
 */
export async function generateScrapeConfig(config: ResolvedConfig, options: ScrapeConfigOptions): Promise<GeneratedScrapeConfig> {
  checkOptionsObject('generateScrapeConfig', options);
  const requirements = deriveRequirements(config, requirementOptions(options));
  return scrapeConfigFromRequirements(requirements, options, {
    ...(config.file !== undefined ? { file: config.file, fallbackDir: dirname(config.file) } : {}),
  });
}

/** The operator variant of {@link scrapeConfigFromRequirements}. */
export async function operatorManifestsFromRequirements(
  requirements: ScrapeRequirements,
  options: OperatorManifestOptions,
  source?: { file?: string; fallbackDir?: string },
): Promise<GeneratedOperatorManifests> {
  checkOptionsObject('generateOperatorManifests', options);
  const kind = options.kind ?? 'ServiceMonitor';
  if (kind === 'ScrapeConfig') {
    if (!Array.isArray(options.targets)) throw new TypeError('generateOperatorManifests: a ScrapeConfig needs targets, an array of "HOST:PORT" strings');
  } else {
    if (typeof options.selector !== 'object' || options.selector === null)
      throw new TypeError('generateOperatorManifests: selector must be an object of label → value');
    if (options.targets !== undefined) throw new ScrapeguardError('SCRAPE_CONFIG', `a ${kind} discovers its targets; targets apply only to kind ScrapeConfig`);
  }
  const operator = operatorVersion(options.operatorVersion);
  const opts = planOptions(options, kind === 'ScrapeConfig' ? (options.targets ?? []) : [], source?.fallbackDir, kind !== 'ScrapeConfig', operator);
  const plan = await planScrape(requirements, opts);
  const manifests = await renderOperatorManifests(plan, {
    kind,
    name: options.name ?? 'scrapeguard',
    ...(options.selector !== undefined ? { selector: options.selector } : {}),
    operatorVersion: operator,
    prometheusVersion: opts.prometheusVersion,
    metricsPath: options.metricsPath ?? '/metrics',
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.interval !== undefined ? { interval: options.interval } : {}),
    ...(options.embedSecrets !== undefined ? { embedSecrets: options.embedSecrets } : {}),
    ...(options.secretName !== undefined ? { secretName: options.secretName } : {}),
  });
  const warnings = [...plan.warnings, ...manifests.warnings];
  if (plan.auth?.kind === 'authorization' && plan.auth.serviceAccountToken) {
    warnings.push(
      'bearerTokenFile is deprecated in prometheus-operator and refused when the Prometheus resource sets arbitraryFSAccessThroughSMs.deny: true; mount the projected token into Prometheus with spec.volumes / spec.volumeMounts',
    );
  }
  let createSecretCommand: string | undefined;
  if (manifests.secretName !== undefined) {
    if (options.embedSecrets === false) createSecretCommand = kubectlCreateSecret(manifests, options.namespace);
    else if (manifests.secretKeys.some((k) => SECRET_KEYS.has(k.key))) {
      warnings.push(
        `the output contains the Secret ${JSON.stringify(manifests.secretName)} with private key or credential material: apply it (kubectl apply -f -), do not commit it`,
      );
    }
  }
  return {
    yaml: manifestsYaml(manifests.documents, headerComment(source?.file, opts.prometheusVersion, 'operator', operator)),
    documents: manifests.documents,
    warnings,
    ...(createSecretCommand !== undefined ? { createSecretCommand } : {}),
    requirements,
    plan,
  };
}

/**
 * Generates a prometheus-operator `ServiceMonitor` (or `PodMonitor`) and the `Secret` it
 * references, matching a configuration.
 * @example
 * const { yaml } = await generateOperatorManifests(config, {
 *   kind: 'ServiceMonitor', namespace: 'shop', selector: { 'app.kubernetes.io/name': 'api' },
 *   credentialsDir: './scrape-credentials',
 * });
 */
export async function generateOperatorManifests(config: ResolvedConfig, options: OperatorManifestOptions): Promise<GeneratedOperatorManifests> {
  checkOptionsObject('generateOperatorManifests', options);
  const requirements = deriveRequirements(config, requirementOptions(options));
  return operatorManifestsFromRequirements(requirements, options, {
    ...(config.file !== undefined ? { file: config.file, fallbackDir: dirname(config.file) } : {}),
  });
}
