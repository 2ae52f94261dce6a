/**
 * Which scrape-config fields a given Prometheus version accepts (prometheus/common http_config,
 * REFERENCE.md §2). The generator never emits a field the target Prometheus would refuse: an
 * unknown field makes Prometheus refuse the whole configuration file, not just one job.
 */

/** A Prometheus release line, e.g. 2.42. Patch releases never add config fields. */
export interface PrometheusVersion {
  readonly major: number;
  readonly minor: number;
}

/** The oldest Prometheus the project tests against (Debian bookworm's 2.42); the default target. */
export const DEFAULT_PROMETHEUS_VERSION: PrometheusVersion = { major: 2, minor: 42 };

/** Scrape-config features that appeared after 2.0, with the first version that accepts them. */
export const FIELD_SINCE = {
  /** `authorization{type,credentials,credentials_file}`. */
  authorization: { major: 2, minor: 26 },
  /** `oauth2{client_id,client_secret_file,scopes,token_url,…}`. */
  oauth2: { major: 2, minor: 27 },
  /** `tls_config.min_version`. */
  tlsMinVersion: { major: 2, minor: 35 },
  /** `tls_config.max_version`. */
  tlsMaxVersion: { major: 2, minor: 41 },
  /** Inline `tls_config.ca` / `cert` / `key`. */
  tlsInline: { major: 2, minor: 45 },
  /** `basic_auth.username_file`. */
  basicAuthUsernameFile: { major: 2, minor: 49 },
  /** `http_headers`. */
  httpHeaders: { major: 2, minor: 53 },
} as const satisfies Record<string, PrometheusVersion>;

/** A feature name of {@link FIELD_SINCE}. */
export type VersionedField = keyof typeof FIELD_SINCE;

/**
 * Parses `2.42`, `2.42.0`, `v2.53.1` or `3.0` (a patch part is accepted and ignored).
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
 * supports({ major: 2, minor: 42 }, 'tlsMinVersion'); // true (since 2.35)
 * supports({ major: 2, minor: 42 }, 'tlsInline');     // false (since 2.45)
 */
export function supports(version: PrometheusVersion, field: VersionedField): boolean {
  return atLeast(version, FIELD_SINCE[field]);
}

/** `2.42` */
export function formatVersion(version: PrometheusVersion): string {
  return `${version.major}.${version.minor}`;
}
