/**
 * The finding model of `scrapeguard scan`: every check reports {@link Finding}s whose `id` names
 * an entry of {@link SCAN_RULES} — the catalogue of what scan can find, with a fixed severity, a
 * title, an explanation and the fix. The catalogue is the single source for the README table, the
 * SARIF `rules` and the JSON schema, so ids never drift between formats.
 *
 * Evidence never holds a secret: checks put metric and label names, detector names, masked
 * previews ({@link import('../../exposition/secrets.js').maskedPreview}) and protocol facts in it.
 */

/** `info` is a fact worth knowing (ALPN, HTTP/2), never a failure; the rest gate `--fail-on`. */
export type Severity = 'info' | 'low' | 'medium' | 'high';

/** Severities from least to most severe. */
export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high'];

/** Position of a severity in {@link SEVERITIES} (for comparisons and sorting). */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** The area a rule belongs to (the table groups by it). */
export type RuleCategory = 'transport' | 'authentication' | 'content' | 'headers' | 'prometheus';

/** One kind of finding. */
export interface ScanRule {
  readonly id: string;
  readonly category: RuleCategory;
  readonly severity: Severity;
  /** One line. */
  readonly title: string;
  /** Why it matters. */
  readonly explanation: string;
  /** What to do about it, generally (a finding adds target-specific commands in `hints`). */
  readonly fix: string;
}

function rule(id: string, category: RuleCategory, severity: Severity, title: string, explanation: string, fix: string): ScanRule {
  return { id, category, severity, title, explanation, fix };
}

/** Every rule, in report order. Ids are stable: JSON/SARIF consumers key on them. */
export const SCAN_RULES: readonly ScanRule[] = Object.freeze([
  // transport
  rule(
    'transport.plain-http',
    'transport',
    'medium',
    'Metrics served over plain HTTP',
    'Anyone on the network path can read the metrics (and any credential sent with the scrape) and tamper with them.',
    'Serve the endpoint over HTTPS (tls_server_config in web-config.yml), e.g. behind `scrapeguard serve --upstream`.',
  ),
  rule(
    'transport.tls-legacy-version',
    'transport',
    'medium',
    'TLS 1.0 or 1.1 accepted',
    'TLS 1.0 and 1.1 are deprecated (RFC 8996): weak hashes, CBC padding attacks, no AEAD ciphers.',
    'Set `min_version: TLS12` in tls_server_config.',
  ),
  rule(
    'transport.tls-weak-cipher',
    'transport',
    'medium',
    'Weak TLS 1.2 cipher suite accepted',
    'The server negotiates a cipher suite without forward secrecy (static RSA key exchange) or with a broken algorithm (3DES, RC4, NULL, anonymous).',
    'Restrict `cipher_suites` to ECDHE suites with AES-GCM or ChaCha20-Poly1305, or leave them at the default and set `min_version: TLS12`.',
  ),
  rule(
    'transport.cert-expired',
    'transport',
    'high',
    'Server certificate expired (or not yet valid)',
    'Clients that verify certificates refuse the endpoint; clients that still scrape it must have verification switched off.',
    'Issue a new certificate and configure automatic renewal (cert_file/key_file are reloaded when they change).',
  ),
  rule(
    'transport.cert-expiring',
    'transport',
    'low',
    'Server certificate expires soon',
    'The certificate expires within the --expiry-days window; scrapes fail when it does.',
    'Renew the certificate now; cert_file/key_file are reloaded without a restart.',
  ),
  rule(
    'transport.cert-name-mismatch',
    'transport',
    'high',
    'Server certificate not valid for the host',
    'The certificate does not name the host that was scanned, so verifying clients refuse it and the rest are open to impersonation.',
    'Issue a certificate whose subjectAltName lists the host (`scrapeguard init --san HOST`), or scrape by a name it lists (`tls_config.server_name`).',
  ),
  rule(
    'transport.cert-untrusted',
    'transport',
    'medium',
    'Server certificate not trusted',
    'The certificate is self-signed or its issuer is not among the trusted CAs (the --ca-file file when given, the system roots otherwise); scrapers either fail or must skip verification.',
    'Pin the CA that issued it in the scraper (`tls_config.ca_file`; pass it to scan with --ca), or use a certificate from a CA the scrapers trust.',
  ),
  rule('transport.alpn', 'transport', 'info', 'ALPN and HTTP version', 'The protocol negotiated by ALPN (h2 or http/1.1); informational.', 'Nothing to fix.'),
  // authentication
  rule(
    'auth.none',
    'authentication',
    'high',
    'Metrics served without credentials',
    'The endpoint answered a request without any credential (no client certificate, no Authorization header) with its metrics.',
    'Require authentication: mutual TLS (client_auth_type: RequireAndVerifyClientCert) and/or basic_auth_users/bearer_auth in web-config.yml.',
  ),
  rule(
    'auth.any-client-cert',
    'authentication',
    'high',
    'Any client certificate accepted',
    'A freshly generated self-signed client certificate was accepted: the server asks for a certificate but does not verify it, so mTLS authenticates nobody.',
    'Set `client_auth_type: RequireAndVerifyClientCert` with `client_ca_file` (and `client_allowed_sans`).',
  ),
  rule(
    'auth.basic-over-http',
    'authentication',
    'high',
    'Basic authentication over plain HTTP',
    'Basic authentication sends the password in clear text on every scrape when the transport is plain HTTP.',
    'Serve over HTTPS (tls_server_config) before using basic_auth_users, or use mutual TLS.',
  ),
  rule(
    'auth.missing-www-authenticate',
    'authentication',
    'low',
    '401 without WWW-Authenticate',
    'RFC 9110 requires a WWW-Authenticate challenge on 401; clients cannot tell which scheme to use and some retry forever.',
    'Send `WWW-Authenticate: Basic realm="…"` (or Bearer) with 401 responses; scrapeguard does this itself.',
  ),
  // content
  rule(
    'content.secret-label-value',
    'content',
    'high',
    'Secret in a label value',
    'A label value matches a secret detector (docs/secret-detectors.md): every scraper, every Prometheus and every dashboard user can read it.',
    'Stop exporting the value at its source; meanwhile enable redaction (`redaction.detect_secrets`, on by default in scrapeguard) and rotate the credential.',
  ),
  rule(
    'content.secret-help',
    'content',
    'high',
    'Secret in a HELP text',
    'A HELP text matches a secret detector; HELP is stored as metadata by Prometheus and shown in UIs.',
    'Fix the HELP text at its source; meanwhile redact it (`redaction.redact_help`) and rotate the credential.',
  ),
  rule(
    'content.per-user-identifier',
    'content',
    'medium',
    'Label with per-user identifiers',
    'A label holds many distinct e-mail or IP addresses: personal data in every scrape and a cardinality explosion in Prometheus.',
    'Drop or aggregate the label at the source, or drop it with a redaction rule (`redaction.drop_labels`).',
  ),
  rule(
    'content.unparseable',
    'content',
    'low',
    'Response is not valid exposition text',
    'The body did not parse as Prometheus text format 0.0.4 or OpenMetrics, so its content could not be checked.',
    'Check that the URL is the metrics path and the exporter writes valid exposition text (`promtool check metrics`).',
  ),
  // headers
  rule(
    'headers.missing-nosniff',
    'headers',
    'low',
    'X-Content-Type-Options: nosniff missing',
    'Without it browsers may sniff the metrics text as HTML or script when someone opens the URL.',
    'Add `X-Content-Type-Options: nosniff` under http_server_config.headers.',
  ),
  rule(
    'headers.missing-hsts',
    'headers',
    'low',
    'Strict-Transport-Security missing on HTTPS',
    'Browsers that once opened the endpoint over HTTPS may still be downgraded to HTTP.',
    'Add `Strict-Transport-Security: max-age=31536000` under http_server_config.headers.',
  ),
  rule(
    'headers.missing-cache-control',
    'headers',
    'info',
    'No Cache-Control on an authenticated response',
    'Authenticated metrics may be stored by intermediate or browser caches. Prometheus itself never caches, so this is informational.',
    'Add `Cache-Control: no-store` under http_server_config.headers if browsers or proxies reach the endpoint.',
  ),
  // prometheus server
  rule(
    'prometheus.admin-api',
    'prometheus',
    'high',
    'Prometheus admin API enabled',
    '--web.enable-admin-api lets anyone who reaches the server delete series and snapshot the TSDB.',
    'Remove --web.enable-admin-api, or put the server behind authentication (--web.config.file).',
  ),
  rule(
    'prometheus.lifecycle',
    'prometheus',
    'medium',
    'Prometheus lifecycle API enabled',
    '--web.enable-lifecycle lets anyone who reaches the server shut it down or reload its configuration.',
    'Remove --web.enable-lifecycle (reload with SIGHUP), or require authentication (--web.config.file).',
  ),
  rule(
    'prometheus.no-auth',
    'prometheus',
    'high',
    'Prometheus API reachable without authentication',
    'The server answered API requests without credentials: all stored series, the configuration and the targets are readable by anyone who reaches it.',
    'Start Prometheus with --web.config.file requiring basic_auth_users and/or mutual TLS.',
  ),
  rule(
    'prometheus.job-plain-http',
    'prometheus',
    'medium',
    'Scrape job uses plain HTTP',
    'The job scrapes its targets over plain HTTP: metrics and any scrape credential cross the network in clear text.',
    'Secure the targets (scrapeguard serve) and set `scheme: https` with a `tls_config` pinning their CA.',
  ),
  rule(
    'prometheus.job-insecure-skip-verify',
    'prometheus',
    'high',
    'Scrape job skips certificate verification',
    '`tls_config.insecure_skip_verify: true` accepts any certificate: anyone on the path can impersonate the targets and collect the scrape credentials.',
    "Pin the targets' CA with `tls_config.ca_file` (and `server_name` when the names differ) and remove insecure_skip_verify.",
  ),
  rule(
    'prometheus.inline-credential',
    'prometheus',
    'medium',
    'Credential inlined in the Prometheus configuration',
    'A password, token or client secret is written into prometheus.yml itself instead of a file: it ends up in config management, backups and the status page.',
    'Use the `*_file` form (`password_file`, `credentials_file`, `client_secret_file`) pointing at a file readable only by Prometheus.',
  ),
  rule(
    'prometheus.target-tls-error',
    'prometheus',
    'medium',
    'Target down with a TLS error',
    'A target fails its scrapes on a certificate or handshake error; the data is missing and someone may be tempted to switch verification off.',
    "Fix the certificate or the job's tls_config (ca_file, server_name, cert_file/key_file); never insecure_skip_verify.",
  ),
  rule(
    'prometheus.stored-secret',
    'prometheus',
    'high',
    'Secret among stored label values',
    'A label value stored in Prometheus matches a secret detector: it is readable through the API and in every dashboard.',
    'Stop the exporter from exposing it (or redact it with scrapeguard), delete the series (admin API delete_series), and rotate the credential.',
  ),
]);

const RULES_BY_ID = new Map(SCAN_RULES.map((r) => [r.id, r]));

/** The rule with this id; throws for an unknown id (a programming error). */
export function scanRule(id: string): ScanRule {
  const found = RULES_BY_ID.get(id);
  if (found === undefined) throw new Error(`unknown scan rule ${id}`);
  return found;
}

/** One finding on one target. */
export interface Finding {
  /** A {@link SCAN_RULES} id. */
  readonly id: string;
  readonly severity: Severity;
  /** The scanned URL. */
  readonly target: string;
  /** What exactly was found, one line, no secret. */
  readonly message: string;
  /** Facts backing the finding (names, counts, masked previews, protocol versions); never a secret. */
  readonly evidence: Readonly<Record<string, string | number | boolean>>;
  /** Target-specific commands or config snippets that would fix it (scrapeguard first). */
  readonly hints: readonly string[];
}

/**
 * Builds a finding of rule `id` (severity from the rule).
 * @example
 * finding('transport.plain-http', 'http://h:9100/metrics', 'served over plain HTTP', {});
 */
export function finding(
  id: string,
  target: string,
  message: string,
  evidence: Record<string, string | number | boolean>,
  hints: readonly string[] = [],
): Finding {
  return { id, severity: scanRule(id).severity, target, message, evidence, hints };
}

/** What a scan of one URL produced. */
export interface TargetReport {
  readonly url: string;
  readonly kind: 'endpoint' | 'prometheus';
  readonly findings: readonly Finding[];
  /** Set when the target could not be scanned at all (unreachable, refused, timed out). */
  readonly error?: string;
  /** Checks that could not run (e.g. content without credentials), so a clean report is not over-read. */
  readonly notes?: readonly string[];
}

/** Findings sorted most severe first, then by rule order. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  const order = new Map(SCAN_RULES.map((r, i) => [r.id, i]));
  return [...findings].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}
