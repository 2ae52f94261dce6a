/**
 * Which Go exporters can read a web-config.yml: the oldest exporter-toolkit release that knows
 * every key in it, and the oldest node_exporter release built with that toolkit. exporter-toolkit
 * parses the file strictly (`yaml.UnmarshalStrict` in every release), so one key it does not know
 * makes the exporter refuse to start; scrapeguard's own extension keys therefore make a file
 * scrapeguard-only.
 *
 * Where the facts come from (all read in the public git history; re-check there when adding a row):
 * - Keys per toolkit release: the `yaml:"…"` struct tags of `https/tls_config.go` (v0.1.0–v0.4.0)
 *   and `web/tls_config.go` (v0.5.0 on) at each tag of github.com/prometheus/exporter-toolkit, and
 *   the commit that added each key (`git log -S'yaml:"KEY"'`, `git tag --contains COMMIT`).
 * - node_exporter → toolkit: the `github.com/prometheus/exporter-toolkit` line of `go.mod` at each
 *   tag of github.com/prometheus/node_exporter (1.0.x predates the toolkit: its own `https` package).
 * These are upstream's builds. Distribution packages may link another toolkit release (Debian's
 * node_exporter 1.11.1-3 in sid is built with exporter-toolkit 0.17.1, its 1.5.0 in bookworm with
 * 0.8.2, per the packages' Built-Using fields), so the toolkit version is the authoritative floor.
 */

/** A toolkit release, `vMAJOR.MINOR.PATCH`. */
export type ToolkitVersion = `v${number}.${number}.${number}`;

/** One web-config key (or key value) that not every exporter-toolkit release knows. */
export interface CompatFeature {
  /** Key path as `check` prints it, e.g. `tls_server_config.client_allowed_sans`. */
  path: string;
  /** First exporter-toolkit release that reads it. */
  since: ToolkitVersion;
  /** The upstream change that introduced it. */
  source: string;
}

/** The oldest toolkit release this table covers: the first one, which already had the keys below. */
export const BASE_TOOLKIT: ToolkitVersion = 'v0.1.0';

// Present since exporter-toolkit v0.1.0 (2020-12-10; commits 871ceac "Adding TLS to node exporter"
// and 333b108 "tls: enable the selection of more TLS settings (#1695)").
const BASE_TOP = ['tls_server_config', 'http_server_config', 'basic_auth_users'];
const BASE_TLS = [
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'cipher_suites',
  'curve_preferences',
  'min_version',
  'max_version',
  'prefer_server_cipher_suites',
];
const BASE_HTTP = ['http2'];

/** Keys and values added after v0.1.0, oldest first. */
export const COMPAT_FEATURES: readonly CompatFeature[] = [
  {
    // v0.6.0 still spelled it only RequireClientCert (switch in web/tls_config.go).
    path: 'tls_server_config.client_auth_type: RequireAnyClientCert',
    since: 'v0.6.1',
    source: 'exporter-toolkit d18b106 "Fixed typo" (2021-07-09), first tag v0.6.1',
  },
  {
    path: 'http_server_config.headers',
    since: 'v0.7.0',
    source: 'exporter-toolkit 19e732c "HTTP Headers support (#41)" (2021-10-06), first tag v0.7.0',
  },
  {
    path: 'tls_server_config.client_allowed_sans',
    since: 'v0.10.0',
    source: 'exporter-toolkit 47811e7 "Client TLS: Add option to require a specific DNS name in Subject Alternate Name (#126)" (2023-04-07), first tag v0.10.0',
  },
  {
    path: 'tls_server_config.cert / key / client_ca (inline PEM)',
    since: 'v0.11.0',
    source: 'exporter-toolkit 3b30409 "Pass TLS certs and keys inline" (2023-06-14), first tag v0.11.0',
  },
  {
    path: 'rate_limit',
    since: 'v0.15.0',
    source: 'exporter-toolkit efac154 "feat: Add rate limiting (#331)" (2025-09-05), first tag v0.15.0',
  },
];

const feature = (path: string): CompatFeature => {
  const f = COMPAT_FEATURES.find((x) => x.path === path);
  if (f === undefined) throw new Error(`compat: no feature ${path}`);
  return f;
};
const ANY_CLIENT_CERT = feature('tls_server_config.client_auth_type: RequireAnyClientCert');
const HEADERS = feature('http_server_config.headers');
const ALLOWED_SANS = feature('tls_server_config.client_allowed_sans');
const INLINE_PEM = feature('tls_server_config.cert / key / client_ca (inline PEM)');
const RATE_LIMIT = feature('rate_limit');

/**
 * Upstream node_exporter releases and the exporter-toolkit version their `go.mod` requires
 * (github.com/prometheus/node_exporter, `git show TAG:go.mod`). Patch releases are listed where
 * the toolkit changed; the others use their minor release's toolkit.
 */
export const NODE_EXPORTER_TOOLKIT: readonly (readonly [nodeExporter: string, toolkit: ToolkitVersion])[] = [
  ['1.1.0', 'v0.5.1'], // 2021-02-05
  ['1.2.0', 'v0.6.0'], // 2021-07-15
  ['1.3.0', 'v0.7.0'], // 2021-11-18
  ['1.4.0', 'v0.7.1'], // 2022-09-26
  ['1.4.1', 'v0.7.2'], // 2022-11-29
  ['1.5.0', 'v0.8.2'], // 2022-11-29
  ['1.6.0', 'v0.10.0'], // 2023-05-27
  ['1.7.0', 'v0.10.0'], // 2023-11-13
  ['1.8.0', 'v0.11.0'], // 2024-04-24
  ['1.9.0', 'v0.14.0'], // 2025-02-17
  ['1.10.0', 'v0.14.1'], // 2025-10-24
  ['1.11.0', 'v0.16.0'], // 2026-04-04
  ['1.12.0', 'v0.17.1'], // 2026-07-10
];

/** The newest node_exporter release the table knows. */
export const NEWEST_KNOWN_NODE_EXPORTER = NODE_EXPORTER_TOOLKIT[NODE_EXPORTER_TOOLKIT.length - 1]?.[0] ?? '';

type Triple = [number, number, number];

function parseVersion(text: string): Triple | undefined {
  const m = /^v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?$/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function compare(a: Triple, b: Triple): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

const triple = (v: string): Triple => parseVersion(v) ?? [0, 0, 0];

/** `a` ≥ `b` for `vX.Y.Z` / `X.Y.Z` strings. */
export function versionAtLeast(a: string, b: string): boolean {
  return compare(triple(a), triple(b)) >= 0;
}

/** The oldest upstream node_exporter release whose toolkit is at least `toolkit`, if any is known. */
export function oldestNodeExporterFor(toolkit: ToolkitVersion): string | undefined {
  return NODE_EXPORTER_TOOLKIT.find(([, t]) => versionAtLeast(t, toolkit))?.[0];
}

/** What {@link compatibility} found in a document. */
export interface CompatReport {
  /** Key paths only scrapeguard reads (its extensions); non-empty means no Go exporter can load the file. */
  scrapeguardOnly: string[];
  /** Oldest exporter-toolkit release that knows every toolkit key in the document. */
  toolkit: ToolkitVersion;
  /** Oldest upstream node_exporter built with such a toolkit (undefined if none is known yet). */
  nodeExporter: string | undefined;
  /** The features that raised the floor above {@link BASE_TOOLKIT}, newest first. */
  needs: CompatFeature[];
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Works out which exporter-toolkit / node_exporter releases can read `doc` (a parsed
 * web-config.yml). Only key names and the one value that changed (`RequireAnyClientCert`) matter:
 * the file is assumed valid otherwise (`check` validates it first).
 * @example
 * compatibility(parse(text)); // { scrapeguardOnly: [], toolkit: 'v0.10.0', nodeExporter: '1.6.0', needs: [...] }
 */
export function compatibility(doc: unknown): CompatReport {
  const scrapeguardOnly: string[] = [];
  const needs = new Set<CompatFeature>();
  const top = isMapping(doc) ? doc : {};
  for (const [key, value] of Object.entries(top)) {
    if (key === 'rate_limit') {
      needs.add(RATE_LIMIT);
      if (isMapping(value)) for (const k of Object.keys(value)) if (k !== 'interval' && k !== 'burst') scrapeguardOnly.push(`rate_limit.${k}`);
    } else if (!BASE_TOP.includes(key)) {
      scrapeguardOnly.push(key);
    }
  }
  const tls = top.tls_server_config;
  if (isMapping(tls)) {
    for (const key of Object.keys(tls)) {
      if (key === 'client_allowed_sans') needs.add(ALLOWED_SANS);
      else if (key === 'cert' || key === 'key' || key === 'client_ca') needs.add(INLINE_PEM);
      else if (!BASE_TLS.includes(key)) scrapeguardOnly.push(`tls_server_config.${key}`);
    }
    if (tls.client_auth_type === 'RequireAnyClientCert') needs.add(ANY_CLIENT_CERT);
  }
  const http = top.http_server_config;
  if (isMapping(http)) {
    for (const key of Object.keys(http)) {
      if (key === 'headers') needs.add(HEADERS);
      else if (!BASE_HTTP.includes(key)) scrapeguardOnly.push(`http_server_config.${key}`);
    }
  }
  const sorted = [...needs].sort((a, b) => compare(triple(b.since), triple(a.since)));
  const toolkit = sorted[0]?.since ?? BASE_TOOLKIT;
  return { scrapeguardOnly, toolkit, nodeExporter: oldestNodeExporterFor(toolkit), needs: sorted };
}

/**
 * The one-line summary `check` prints and `init` writes into its comment, e.g.
 * `readable by: scrapeguard, exporter-toolkit >= v0.10.0 (node_exporter >= 1.6.0; needs it for tls_server_config.client_allowed_sans)`.
 */
export function describeCompatibility(report: CompatReport): string {
  if (report.scrapeguardOnly.length > 0) {
    return `readable by: scrapeguard only (its extension keys ${report.scrapeguardOnly.join(', ')} are unknown to exporter-toolkit, which refuses unknown keys)`;
  }
  const node = report.nodeExporter === undefined ? `no node_exporter release up to ${NEWEST_KNOWN_NODE_EXPORTER}` : `node_exporter >= ${report.nodeExporter}`;
  const newest = report.needs[0];
  const why = newest === undefined ? '' : `; for ${newest.path}`;
  return `readable by: scrapeguard, exporter-toolkit >= ${report.toolkit} (${node}${why})`;
}

/** A compatibility target as given to `init --compat`. */
export interface CompatTarget {
  /** How the user named it, normalized: `node_exporter 1.5.0`, `exporter-toolkit v0.8.2`. */
  label: string;
  /** The toolkit release whose keys the written file may use. */
  toolkit: ToolkitVersion;
}

/**
 * Parses `node_exporter-1.5`, `node_exporter-1.5.0` or `exporter-toolkit-v0.8.2`. A node_exporter
 * newer than the table is read with the newest known toolkit (releases only ever added keys).
 * @throws {RangeError} naming the accepted forms, or the releases the table covers.
 * @example
 * parseCompatTarget('node_exporter-1.5'); // { label: 'node_exporter 1.5.0', toolkit: 'v0.8.2' }
 */
export function parseCompatTarget(text: string): CompatTarget {
  const m = /^(node_exporter|exporter-toolkit)[-@ ]?(v?[0-9.]+)$/.exec(text.trim());
  const version = m ? parseVersion(m[2] ?? '') : undefined;
  if (!m || version === undefined) {
    throw new RangeError(`${JSON.stringify(text)} is not a known target; use node_exporter-X.Y[.Z] (e.g. node_exporter-1.5) or exporter-toolkit-vX.Y.Z`);
  }
  const printed = version.join('.');
  if (m[1] === 'exporter-toolkit') {
    if (compare(version, triple(BASE_TOOLKIT)) < 0) throw new RangeError(`exporter-toolkit releases start at ${BASE_TOOLKIT}`);
    return { label: `exporter-toolkit v${printed}`, toolkit: `v${printed}` as ToolkitVersion };
  }
  const first = NODE_EXPORTER_TOOLKIT[0];
  if (first === undefined || compare(version, triple(first[0])) < 0) {
    throw new RangeError(
      `node_exporter ${printed} predates exporter-toolkit (node_exporter 1.0.x had its own web-config code); scrapeguard can write configs for node_exporter >= ${first?.[0] ?? '1.1.0'}`,
    );
  }
  // The last table row at or below the version: its toolkit is what that release (or its patch releases) use.
  let toolkit: ToolkitVersion = first[1];
  for (const [release, t] of NODE_EXPORTER_TOOLKIT) if (compare(triple(release), version) <= 0) toolkit = t;
  return { label: `node_exporter ${printed}`, toolkit };
}

/** Whether a file whose floor is `report` can be read by `toolkit` (and by Go exporters at all). */
export function readableBy(report: CompatReport, toolkit: ToolkitVersion): boolean {
  return report.scrapeguardOnly.length === 0 && versionAtLeast(toolkit, report.toolkit);
}
