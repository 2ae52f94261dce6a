/**
 * Which scrape-config fields a given Prometheus version accepts, and which monitor fields a given
 * prometheus-operator version's CRDs know. The generator never emits a field the target refuses:
 * an unknown field makes Prometheus refuse the whole configuration file, not just one job, and the
 * Kubernetes API server silently prunes a field the installed CRD does not know (so a TLS floor
 * or a token-endpoint CA would vanish without a word).
 *
 * Prometheus versions were checked against `docs/configuration/configuration.md` at each release
 * tag of prometheus/prometheus and, where the docs lag the code, against the prometheus/common
 * version in that tag's go.mod (`config/http_config.go`). Operator versions were checked against
 * the `example/prometheus-operator-crd/*.yaml` CRDs at each release tag and the operator's
 * CHANGELOG. docs/scrape-config.md has the tables.
 */

/** A Prometheus release line, e.g. 2.42. Patch releases never add config fields. */
export interface PrometheusVersion {
  readonly major: number;
  readonly minor: number;
}

/**
 * The default target: Prometheus 3.5, the current long-term-support release (what new installs
 * run; Debian sid ships 3.5.3). Give `2.42` (or any older line) for a Prometheus 2 server.
 */
export const DEFAULT_PROMETHEUS_VERSION: PrometheusVersion = { major: 3, minor: 5 };

/** Scrape-config features that appeared after 2.0, with the first version that accepts them. */
export const FIELD_SINCE = {
  /** `authorization{type,credentials,credentials_file}`. */
  authorization: { major: 2, minor: 26 },
  /** `oauth2{client_id,client_secret_file,scopes,token_url,…}`. */
  oauth2: { major: 2, minor: 27 },
  /** `oauth2.tls_config` (prometheus/common 0.32, first in Prometheus 2.31). */
  oauth2TlsConfig: { major: 2, minor: 31 },
  /** `tls_config.min_version`. */
  tlsMinVersion: { major: 2, minor: 35 },
  /** `tls_config.max_version`. */
  tlsMaxVersion: { major: 2, minor: 41 },
  /** Inline `tls_config.ca` / `cert` / `key`. */
  tlsInline: { major: 2, minor: 45 },
  /** `basic_auth.username_file` (prometheus/common 0.45 in 2.49; documented from 3.0). */
  basicAuthUsernameFile: { major: 2, minor: 49 },
  /** `scrape_protocols` per job, with `PrometheusProto`, `OpenMetricsText1.0.0`, `OpenMetricsText0.0.1`, `PrometheusText0.0.4`. */
  scrapeProtocols: { major: 2, minor: 49 },
  /** `http_headers`. */
  httpHeaders: { major: 2, minor: 53 },
  /** The `PrometheusText1.0.0` protocol (text format with UTF-8 names). */
  prometheusText1: { major: 3, minor: 0 },
  /** `fallback_scrape_protocol` (Prometheus 3 refuses a blank or unknown Content-Type without it). */
  fallbackScrapeProtocol: { major: 3, minor: 0 },
  /** `scrape_native_histograms` per job (before it, only `--enable-feature=native-histograms`). */
  scrapeNativeHistograms: { major: 3, minor: 8 },
} as const satisfies Record<string, PrometheusVersion>;

/** A feature name of {@link FIELD_SINCE}. */
export type VersionedField = keyof typeof FIELD_SINCE;

/**
 * Parses `2.42`, `2.42.0`, `v2.53.1` or `3.5` (a patch part is accepted and ignored).
 * Returns `undefined` for anything else, and for 1.x (whose configuration format differs).
 * @example
 * parsePrometheusVersion('v2.53.1'); // { major: 2, minor: 53 }
 */
export function parsePrometheusVersion(text: string): PrometheusVersion | undefined {
  const m = /^v?(\d{1,3})\.(\d{1,3})(?:\.\d{1,4})?$/.exec(text.trim());
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major >= 2 ? { major, minor } : undefined;
}

/** `a` is the same release line as `b` or a later one. */
export function atLeast(a: PrometheusVersion, b: PrometheusVersion): boolean {
  return a.major !== b.major ? a.major > b.major : a.minor >= b.minor;
}

/**
 * Whether Prometheus `version` accepts `field`.
 * @example
 * supports({ major: 2, minor: 42 }, 'tlsMinVersion');          // true (since 2.35)
 * supports({ major: 2, minor: 42 }, 'fallbackScrapeProtocol'); // false (since 3.0)
 */
export function supports(version: PrometheusVersion, field: VersionedField): boolean {
  return atLeast(version, FIELD_SINCE[field]);
}

/** `2.42` */
export function formatVersion(version: PrometheusVersion): string {
  return `${version.major}.${version.minor}`;
}

/** A prometheus-operator release line, e.g. 0.80 (`major` is 0 for every release so far). */
export type OperatorVersion = PrometheusVersion;

/**
 * The default operator target: 0.80, the first release whose CRDs know every field the
 * generator emits for a Prometheus 3 server by default (`tlsConfig.minVersion` 0.76,
 * `fallbackScrapeProtocol` 0.80, `PrometheusText1.0.0` 0.79).
 */
export const DEFAULT_OPERATOR_VERSION: OperatorVersion = { major: 0, minor: 80 };

/** The oldest operator the table covers (CRDs before it are not checked). */
export const OLDEST_OPERATOR_VERSION: OperatorVersion = { major: 0, minor: 40 };

/**
 * Monitor fields by the first prometheus-operator release whose CRDs carry them (ServiceMonitor
 * `spec.endpoints[]`, PodMonitor `spec.podMetricsEndpoints[]`, ScrapeConfig `spec`).
 */
export const OPERATOR_FIELD_SINCE = {
  /** `authorization{type,credentials}` on ServiceMonitor / PodMonitor endpoints. */
  authorization: { major: 0, minor: 50 },
  /** `oauth2{clientId,clientSecret,tokenUrl,…}` on ServiceMonitor / PodMonitor endpoints. */
  oauth2: { major: 0, minor: 50 },
  /** `basicAuth` and `tlsConfig.keySecret` on PodMonitor endpoints. */
  podMonitorSecrets: { major: 0, minor: 43 },
  /** `tlsConfig.minVersion` / `maxVersion` (all three kinds). */
  tlsMinMaxVersion: { major: 0, minor: 76 },
  /** `oauth2.tlsConfig` (all three kinds). */
  oauth2TlsConfig: { major: 0, minor: 76 },
  /** `spec.scrapeProtocols` (all three kinds). */
  scrapeProtocols: { major: 0, minor: 72 },
  /** `PrometheusText1.0.0` in the `scrapeProtocols` enum. */
  prometheusText1: { major: 0, minor: 79 },
  /** `spec.fallbackScrapeProtocol` (0.79 called it `scrapeFallbackProtocol`; 0.80 renamed it). */
  fallbackScrapeProtocol: { major: 0, minor: 80 },
  /** `spec.scrapeNativeHistograms`. */
  scrapeNativeHistograms: { major: 0, minor: 88 },
  /**
   * The `ScrapeConfig` (monitoring.coreos.com/v1alpha1) CRD with what a static job needs:
   * `staticConfigs` 0.65, `basicAuth`/`authorization` 0.66, `scheme`/`tlsConfig`/`scrapeInterval`
   * 0.67, `metricRelabelings` 0.68.
   */
  scrapeConfigCrd: { major: 0, minor: 68 },
  /** `oauth2` on ScrapeConfig. */
  scrapeConfigOAuth2: { major: 0, minor: 76 },
} as const satisfies Record<string, OperatorVersion>;

/** A feature name of {@link OPERATOR_FIELD_SINCE}. */
export type OperatorField = keyof typeof OPERATOR_FIELD_SINCE;

/**
 * Parses `0.80`, `v0.80.1` (a patch part is accepted and ignored). Returns `undefined` for
 * anything else and for releases older than {@link OLDEST_OPERATOR_VERSION}.
 * @example
 * parseOperatorVersion('v0.76.2'); // { major: 0, minor: 76 }
 */
export function parseOperatorVersion(text: string): OperatorVersion | undefined {
  const m = /^v?(\d{1,3})\.(\d{1,3})(?:\.\d{1,4})?$/.exec(text.trim());
  if (!m) return undefined;
  const version = { major: Number(m[1]), minor: Number(m[2]) };
  return atLeast(version, OLDEST_OPERATOR_VERSION) ? version : undefined;
}

/**
 * Whether prometheus-operator `version` knows `field`.
 * @example
 * operatorSupports({ major: 0, minor: 75 }, 'tlsMinMaxVersion'); // false (since 0.76)
 */
export function operatorSupports(version: OperatorVersion, field: OperatorField): boolean {
  return atLeast(version, OPERATOR_FIELD_SINCE[field]);
}

/** Scrape protocol names of `scrape_protocols` / `fallback_scrape_protocol`. */
export type ScrapeProtocol = 'PrometheusProto' | 'OpenMetricsText1.0.0' | 'OpenMetricsText0.0.1' | 'PrometheusText1.0.0' | 'PrometheusText0.0.4';

/**
 * The protocols a job lists when its target can serve native histograms: protobuf first (the
 * only format that carries them), then the text formats in Prometheus's own default order,
 * `PrometheusText1.0.0` only where it exists. `undefined` when the version has no per-job
 * `scrape_protocols` (before 2.49).
 * @example
 * nativeHistogramProtocols({ major: 3, minor: 5 });
 * // ['PrometheusProto', 'OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', 'PrometheusText1.0.0', 'PrometheusText0.0.4']
 */
export function nativeHistogramProtocols(version: PrometheusVersion, operator?: OperatorVersion): ScrapeProtocol[] | undefined {
  if (!supports(version, 'scrapeProtocols')) return undefined;
  if (operator !== undefined && !operatorSupports(operator, 'scrapeProtocols')) return undefined;
  const text1 = supports(version, 'prometheusText1') && (operator === undefined || operatorSupports(operator, 'prometheusText1'));
  return ['PrometheusProto', 'OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', ...(text1 ? (['PrometheusText1.0.0'] as const) : []), 'PrometheusText0.0.4'];
}

/**
 * The `fallback_scrape_protocol` the generator sets for Prometheus 3: the classic text format,
 * which is what Prometheus 2 assumed for a blank Content-Type (scrapeguard always labels its
 * answers; the fallback only matters when something in between drops the header).
 */
export const FALLBACK_SCRAPE_PROTOCOL: ScrapeProtocol = 'PrometheusText0.0.4';
