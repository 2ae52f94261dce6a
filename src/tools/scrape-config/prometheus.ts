/**
 * Spells a {@link ScrapePlan} as a Prometheus `scrape_configs` entry (prometheus/common
 * http_config field names), and checks the result for the mistakes `promtool check config`
 * lets through (REFERENCE.md §2): a bad `scheme`, `min_version` above `max_version`, two
 * credential kinds at once, a client certificate without its key, inline secrets.
 */
import { Document } from 'yaml';
import type { TlsVersionName } from '../../config/schema.js';
import { ScrapeguardError } from '../../errors.js';
import { TLS_VERSION_RANK } from '../../tls/names.js';
import type { ScrapePlan } from './plan.js';
import {
  atLeast,
  FALLBACK_SCRAPE_PROTOCOL,
  FIELD_SINCE,
  formatVersion,
  nativeHistogramProtocols,
  supports,
  type PrometheusVersion,
  type ScrapeProtocol,
  type VersionedField,
} from './versions.js';
import { HTTP_HEADERS_FILES_SINCE } from './plan.js';

/** `tls_config` as Prometheus reads it (the fields scrapeguard emits). */
export interface PrometheusTlsConfig {
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
  server_name?: string;
  min_version?: TlsVersionName;
  max_version?: TlsVersionName;
}

/** One `scrape_configs` entry as scrapeguard emits it. Secrets only ever by file. */
export interface PrometheusScrapeJob {
  job_name: string;
  scheme: 'http' | 'https';
  metrics_path: string;
  scrape_interval?: string;
  /** 2.49+: protobuf first when the target serves native histograms. */
  scrape_protocols?: ScrapeProtocol[];
  /** 3.0+: the format assumed when an answer's Content-Type is blank or unknown. */
  fallback_scrape_protocol?: ScrapeProtocol;
  /** 3.8+: ingest native histograms for this job (before: the feature flag). */
  scrape_native_histograms?: boolean;
  static_configs: { targets: string[] }[];
  tls_config?: PrometheusTlsConfig;
  basic_auth?: { username: string; password_file: string };
  authorization?: { type: 'Bearer'; credentials_file: string };
  /** Only for Prometheus < 2.26, which has no `authorization`. */
  bearer_token_file?: string;
  oauth2?: {
    client_id: string;
    client_secret_file: string;
    token_url: string;
    scopes?: string[];
    endpoint_params?: Record<string, string>;
    /** 2.31+: the token endpoint's own CA. */
    tls_config?: { ca_file: string };
  };
  metric_relabel_configs?: { action: 'labeldrop'; regex: string }[];
  /** Request headers by name, each read from files (Prometheus ≥ 2.55); the API key of `header_auth`. */
  http_headers?: Record<string, { files: string[] }>;
}

/** Options of {@link renderPrometheusJob}. */
export interface PrometheusRenderOptions {
  jobName: string;
  metricsPath: string;
  /** e.g. `15s`; absent: the global `scrape_interval` applies. */
  scrapeInterval?: string;
  prometheusVersion: PrometheusVersion;
}

const JOB_NAME = /^[^\s\0-\x1f\x7f]{1,200}$/;
const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;

/**
 * Renders the plan as one scrape job, then checks it with {@link checkPrometheusJob}.
 * @example
 * const job = renderPrometheusJob(plan, { jobName: 'api', metricsPath: '/metrics', prometheusVersion: { major: 2, minor: 42 } });
 */
export function renderPrometheusJob(plan: ScrapePlan, options: PrometheusRenderOptions): PrometheusScrapeJob {
  if (!JOB_NAME.test(options.jobName))
    throw new ScrapeguardError('SCRAPE_CONFIG', `job name ${JSON.stringify(options.jobName)} must be 1-200 printable characters without spaces`);
  if (!options.metricsPath.startsWith('/'))
    throw new ScrapeguardError('SCRAPE_CONFIG', `metrics path ${JSON.stringify(options.metricsPath)} must start with "/"`);
  if (options.scrapeInterval !== undefined && !DURATION.test(options.scrapeInterval)) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `scrape interval ${JSON.stringify(options.scrapeInterval)} is not a Prometheus duration (e.g. 15s, 1m)`);
  }
  const job: PrometheusScrapeJob = {
    job_name: options.jobName,
    scheme: plan.scheme,
    metrics_path: options.metricsPath,
    ...(options.scrapeInterval !== undefined ? { scrape_interval: options.scrapeInterval } : {}),
    static_configs: [{ targets: [...plan.targets] }],
  };
  const version = options.prometheusVersion;
  const protocols = plan.nativeHistograms ? nativeHistogramProtocols(version) : undefined;
  if (protocols !== undefined) job.scrape_protocols = protocols;
  if (plan.nativeHistograms && supports(version, 'scrapeNativeHistograms')) job.scrape_native_histograms = true;
  // Prometheus 3 fails a scrape whose Content-Type is blank or unknown; Prometheus 2 read it as
  // text 0.0.4. scrapeguard always labels its answers, so this only restores 2.x behaviour when
  // something in between (an ingress, a proxy) drops the header.
  if (supports(version, 'fallbackScrapeProtocol')) job.fallback_scrape_protocol = FALLBACK_SCRAPE_PROTOCOL;
  if (plan.tls) {
    const t = plan.tls;
    const tls: PrometheusTlsConfig = {
      ...(t.caFile !== undefined ? { ca_file: t.caFile } : {}),
      ...(t.certFile !== undefined ? { cert_file: t.certFile } : {}),
      ...(t.keyFile !== undefined ? { key_file: t.keyFile } : {}),
      ...(t.serverName !== undefined ? { server_name: t.serverName } : {}),
      ...(t.minVersion !== undefined ? { min_version: t.minVersion } : {}),
      ...(t.maxVersion !== undefined ? { max_version: t.maxVersion } : {}),
    };
    if (Object.keys(tls).length > 0) job.tls_config = tls;
  }
  const auth = plan.auth;
  if (auth?.kind === 'basic') {
    job.basic_auth = { username: auth.username, password_file: auth.passwordFile };
  } else if (auth?.kind === 'authorization') {
    if (auth.legacy) job.bearer_token_file = auth.credentialsFile;
    else job.authorization = { type: 'Bearer', credentials_file: auth.credentialsFile };
  } else if (auth?.kind === 'oauth2') {
    job.oauth2 = {
      client_id: auth.clientId,
      client_secret_file: auth.clientSecretFile,
      token_url: auth.tokenUrl,
      ...(auth.scopes.length > 0 ? { scopes: [...auth.scopes] } : {}),
      ...(auth.endpointParams !== undefined && Object.keys(auth.endpointParams).length > 0 ? { endpoint_params: { ...auth.endpointParams } } : {}),
      ...(auth.caFile !== undefined ? { tls_config: { ca_file: auth.caFile } } : {}),
    };
  }
  if (auth?.kind === 'header') job.http_headers = { [auth.header]: { files: [auth.keyFile] } };
  if (plan.labelDrops.length > 0) {
    // One rule: Prometheus anchors the regex, and an alternation of alternations is still exact.
    job.metric_relabel_configs = [{ action: 'labeldrop', regex: plan.labelDrops.join('|') }];
  }
  checkPrometheusJob(job, options.prometheusVersion);
  return job;
}

/**
 * Checks a scrape job for what Prometheus and promtool accept but that cannot work, and for
 * fields the target Prometheus does not know. Throws `SCRAPE_CONFIG` naming the field.
 * @example
 * checkPrometheusJob({ job_name: 'x', scheme: 'https', metrics_path: '/metrics', static_configs: [{ targets: ['a:1'] }] }, { major: 2, minor: 42 });
 */
export function checkPrometheusJob(job: PrometheusScrapeJob, version: PrometheusVersion): void {
  const fail = (message: string): never => {
    throw new ScrapeguardError('SCRAPE_CONFIG', `job ${JSON.stringify(job.job_name)}: ${message}`);
  };
  // Prometheus lower-cases nothing and never validates the scheme (`HTTPS`, `ftp` pass promtool).
  if (job.scheme !== 'http' && job.scheme !== 'https') fail(`scheme must be "http" or "https", got ${JSON.stringify(job.scheme)}`);
  if (job.scheme === 'http' && job.tls_config?.cert_file !== undefined) fail('a client certificate with scheme http is never sent');
  const kinds = (['basic_auth', 'authorization', 'oauth2', 'bearer_token_file'] as const).filter((k) => job[k] !== undefined);
  if (kinds.length > 1) fail(`${kinds.join(' and ')} are mutually exclusive`);
  const tls = job.tls_config;
  if (tls) {
    if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) fail('tls_config.cert_file and key_file go together');
    if (tls.min_version !== undefined && !supports(version, 'tlsMinVersion'))
      fail(`tls_config.min_version needs Prometheus 2.35+, target is ${formatVersion(version)}`);
    if (tls.max_version !== undefined && !supports(version, 'tlsMaxVersion'))
      fail(`tls_config.max_version needs Prometheus 2.41+, target is ${formatVersion(version)}`);
    if (tls.min_version !== undefined && tls.max_version !== undefined && TLS_VERSION_RANK[tls.min_version] > TLS_VERSION_RANK[tls.max_version]) {
      fail(`tls_config.min_version ${tls.min_version} is above max_version ${tls.max_version}`);
    }
  }
  if (job.authorization !== undefined && !supports(version, 'authorization')) fail(`authorization needs Prometheus 2.26+, target is ${formatVersion(version)}`);
  if (job.oauth2 !== undefined && !supports(version, 'oauth2')) fail(`oauth2 needs Prometheus 2.27+, target is ${formatVersion(version)}`);
  const needs = (present: boolean, field: VersionedField, what: string) => {
    const since = FIELD_SINCE[field];
    if (present && !supports(version, field)) fail(`${what} needs Prometheus ${since.major}.${since.minor}+, target is ${formatVersion(version)}`);
  };
  needs(job.oauth2?.tls_config !== undefined, 'oauth2TlsConfig', 'oauth2.tls_config');
  needs(job.scrape_protocols !== undefined, 'scrapeProtocols', 'scrape_protocols');
  needs(job.fallback_scrape_protocol !== undefined, 'fallbackScrapeProtocol', 'fallback_scrape_protocol');
  needs(job.scrape_native_histograms !== undefined, 'scrapeNativeHistograms', 'scrape_native_histograms');
  const text1 = 'PrometheusText1.0.0';
  needs(job.scrape_protocols?.includes(text1) === true || job.fallback_scrape_protocol === text1, 'prometheusText1', text1);
  if (job.scrape_protocols !== undefined && (job.scrape_protocols.length === 0 || new Set(job.scrape_protocols).size !== job.scrape_protocols.length)) {
    fail('scrape_protocols must list each protocol once');
  }
  if (job.http_headers !== undefined) {
    if (!atLeast(version, HTTP_HEADERS_FILES_SINCE))
      fail(`http_headers with files needs Prometheus ${formatVersion(HTTP_HEADERS_FILES_SINCE)}+, target is ${formatVersion(version)}`);
    for (const [name, h] of Object.entries(job.http_headers)) {
      const raw = h as Record<string, unknown>;
      if (raw.values !== undefined || raw.secrets !== undefined) fail(`http_headers.${name}: secrets must be referenced by file, never inlined`);
      if (!Array.isArray(h.files) || h.files.length !== 1 || h.files[0] === '') fail(`http_headers.${name} needs exactly one file`);
    }
  }
  const secretFiles = [
    job.basic_auth?.password_file,
    job.authorization?.credentials_file,
    job.bearer_token_file,
    job.oauth2?.client_secret_file,
    tls?.key_file,
  ];
  if (secretFiles.some((f) => f !== undefined && f === '')) fail('a secret file path is empty');
  const inline = job as unknown as Record<string, Record<string, unknown> | undefined>;
  if (inline.basic_auth?.password !== undefined || inline.authorization?.credentials !== undefined || inline.oauth2?.client_secret !== undefined) {
    fail('secrets must be referenced by file, never inlined');
  }
}

/**
 * The whole `prometheus.yml` fragment as YAML text: a comment naming the source, then
 * `scrape_configs:` with the jobs (so `promtool check config` accepts the file as it is).
 */
export function prometheusYaml(jobs: readonly PrometheusScrapeJob[], comment?: string): string {
  const doc = new Document({ scrape_configs: jobs });
  if (comment !== undefined) doc.commentBefore = comment;
  return doc.toString({ lineWidth: 0 });
}
