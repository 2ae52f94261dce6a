/**
 * The configuration contract: `WebConfigInput` is the document as written in `web-config.yml`
 * (a superset of exporter-toolkit's format), `ResolvedConfig` is what the loader produces after
 * validation, with files read, defaults applied and durations converted to milliseconds.
 */
import type { AuthMethod } from '../auth/principal.js';

/** The five client-certificate policies of Go's `crypto/tls` (plus the `RequireClientCert` alias). */
export type ClientAuthType = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';

/** TLS versions as exporter-toolkit spells them. */
export type TlsVersionName = 'TLS10' | 'TLS11' | 'TLS12' | 'TLS13';

/** A Go duration string (`"1s"`, `"1m30s"`, `"250ms"`) or an integer number of nanoseconds. */
export type GoDuration = string | number;

/** `tls_server_config` exactly as exporter-toolkit reads it. */
export interface TlsServerConfigInput {
  cert?: string;
  cert_file?: string;
  key?: string;
  key_file?: string;
  client_ca?: string;
  client_ca_file?: string;
  client_auth_type?: ClientAuthType | 'RequireClientCert';
  client_allowed_sans?: string[];
  min_version?: TlsVersionName;
  max_version?: TlsVersionName;
  cipher_suites?: string[];
  prefer_server_cipher_suites?: boolean;
  curve_preferences?: string[];
}

/** `http_server_config` exactly as exporter-toolkit reads it. */
export interface HttpServerConfigInput {
  http2?: boolean;
  headers?: Record<string, string>;
}

/** `rate_limit`: one global token bucket, as exporter-toolkit. */
export interface RateLimitInput {
  interval?: GoDuration;
  burst?: number;
}

/** `limits` (scrapeguard extension): server hardening knobs. */
export interface LimitsInput {
  /** Token bucket per remote address; answered with 429 + Retry-After. */
  per_client_rate_limit?: RateLimitInput;
  /** Connections served at once across all listeners (default 512). */
  max_connections?: number;
  /**
   * Connections open at once from one client address (default 32; 0: no per-address cap). IPv4-mapped
   * IPv6 addresses count as their IPv4 address. Behind a load balancer every client shares its address:
   * raise this there.
   */
  max_connections_per_client?: number;
  /** Time from accepting a connection to the end of its TLS handshake (default 5s, or read_header_timeout if shorter). */
  handshake_timeout?: GoDuration;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to HTTP/2 clients (default 100). */
  http2_max_concurrent_streams?: number;
  /**
   * HTTP/2 requests served at once to one client address, across its connections (default 8; 0: no
   * per-address cap). A stream beyond it is reset with ENHANCE_YOUR_CALM before any work is done.
   */
  http2_max_streams_per_client?: number;
  /** Time allowed to receive the request headers (default 10s). */
  read_header_timeout?: GoDuration;
  /** Time allowed for a whole request (default 30s). */
  request_timeout?: GoDuration;
  /** Keep-alive idle time before the server closes a connection (default 120s). */
  idle_timeout?: GoDuration;
  /** Largest request header block accepted (default 16384 bytes). */
  max_header_bytes?: number;
  /** bcrypt verifications running at once (default: CPU cores - 1, at least 1); more wait in a bounded queue. */
  max_concurrent_bcrypt?: number;
  /** Brute-force protection: failed authentications per client before `429` + exponential backoff. */
  auth_failure_backoff?: AuthFailureBackoffInput;
  /** Series (sample lines) served per scrape at most; the largest families are dropped first (default 0: no limit). */
  max_series_per_scrape?: number;
  /** Series one family may have; a family above it is dropped whole (default 0: no limit). */
  max_series_per_family?: number;
  /** Labels one series may carry (`le`/`quantile` not counted); a series above it is dropped (default 0: no limit). */
  max_labels_per_series?: number;
  /** UTF-8 bytes of one label value; a series with a longer value is dropped (default 0: no limit). */
  max_label_value_bytes?: number;
}

/** `limits.auth_failure_backoff`: per-client failure counter with exponential backoff. */
export interface AuthFailureBackoffInput {
  /** Failures allowed before the client is held off (default 5; 0 disables the protection). */
  threshold?: number;
  /** First hold-off once the threshold is reached (default 1s); doubles with each further failure. */
  base_delay?: GoDuration;
  /** Longest hold-off (default 5m). */
  max_delay?: GoDuration;
  /** A client without failures for this long is forgotten (default 15m). */
  forget_after?: GoDuration;
  /** Clients remembered at most (default 10000); beyond it the oldest are forgotten. */
  max_clients?: number;
}

/** One entry of `bearer_auth.tokens`. */
export interface BearerTokenInput {
  /** Principal name of callers presenting this token (never the token itself). */
  name: string;
  /** SHA-256 of the token, 64 hex digits (`scrapeguard token` prints it). */
  token_sha256?: string;
  /** A file holding the token (e.g. a mounted Kubernetes Secret); re-read when it changes. */
  token_file?: string;
  groups?: string[];
  /** RFC 3339 time after which the token is refused. */
  expires_at?: string;
}

/** `bearer_auth` (scrapeguard extension): static bearer tokens, RFC 6750. */
export interface BearerAuthInput {
  tokens?: BearerTokenInput[];
  /** A file with one SHA-256 hex digest per line (`#` comments allowed); reloaded on change. */
  revoked_sha256_file?: string;
}

/** One entry of `header_auth.keys`. */
export interface HeaderKeyInput {
  /** Principal name of callers presenting this key (never the key itself). */
  name: string;
  /** SHA-256 of the key, 64 hex digits (`scrapeguard token --header` prints it). */
  key_sha256?: string;
  /** A file holding the key (e.g. a mounted Kubernetes Secret); re-read when it changes. */
  key_file?: string;
  groups?: string[];
  /** RFC 3339 time after which the key is refused. */
  expires_at?: string;
}

/** `header_auth` (scrapeguard extension): API keys in a named request header, compared by SHA-256. */
export interface HeaderAuthInput {
  /** The request header carrying the key (default `X-API-Key`). */
  header?: string;
  keys?: HeaderKeyInput[];
  /** A file with one SHA-256 hex digest per line (`#` comments allowed); reloaded on change. */
  revoked_sha256_file?: string;
}

/** `jwt_auth.kubernetes`: validate projected Kubernetes service-account tokens offline. */
export interface KubernetesJwtInput {
  /** OIDC discovery document (default `ISSUER/.well-known/openid-configuration`). */
  discovery_url?: string;
  /** CA bundle verifying the discovery and JWKS endpoints (e.g. the pod's `ca.crt`); default: system roots. */
  ca_file?: string;
  /** Bearer token sent to the discovery and JWKS endpoints (the guard's own service-account token). */
  token_file?: string;
  /** Refuse tokens not bound to a pod (`kubernetes.io.pod`), e.g. from `kubectl create token` (default false). */
  require_pod_binding?: boolean;
}

/** `jwt_auth` (scrapeguard extension): JWT bearer tokens verified with jose. */
export interface JwtAuthInput {
  /** Kubernetes mode: service-account tokens, principal `system:serviceaccount:NS:NAME`. */
  kubernetes?: KubernetesJwtInput;
  jwks_file?: string;
  /** `https://` (or `http://` to a loopback address). */
  jwks_url?: string;
  /** Expected `iss`; a list accepts any of them. */
  issuer?: string | string[];
  /** Expected `aud`; a list accepts any of them. */
  audience?: string | string[];
  /** Accepted `alg` values (default: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA). */
  algorithms?: string[];
  /** Shared secret for HS256/HS384/HS512 (the only way to accept HS*). */
  secret_file?: string;
  /** Every one of these must be in `scope` (space-separated) or `scp` (list or string). */
  required_scopes?: string[];
  /** Claim holding the caller's groups (a list or a space-separated string). */
  groups_claim?: string;
  /** Claim naming the principal (default `sub`). */
  principal_claim?: string;
  /** Leeway for `exp`/`nbf`/`iat` (default 30s). */
  clock_tolerance?: GoDuration;
  /** Least time between JWKS fetches on an unknown `kid` (default 30s, at most 10m). */
  jwks_cooldown?: GoDuration;
  /** Timeout of one JWKS fetch (default 5s, at most 60s). */
  jwks_timeout?: GoDuration;
  /** JWKS refreshed at least this often even without an unknown `kid` (default 10m). */
  jwks_max_age?: GoDuration;
}

/** Where a client certificate's principal name comes from. */
export type PrincipalSource = 'san_dns' | 'san_uri' | 'san_email' | 'cn';

/** `client_cert_auth` (scrapeguard extension): a verified client certificate as an identity. */
export interface ClientCertAuthInput {
  principal_from: PrincipalSource;
  /** `ou`: the subject's organizational units; or a map of SAN value → groups. */
  groups_from?: 'ou' | { san_map: Record<string, string[]> };
}

/** An `auth_excluded_paths` entry: a path, or `{path, force: true}` to exclude the telemetry path. */
export type AuthExcludedPathInput = string | { path: string; force?: boolean };

/** A label constraint of `enforce_labels`: an exact value, or `{regex: "…"}` (anchored). */
export type LabelMatchInput = string | { regex: string };

/** One rule of `access_rules.rules`; first match wins. */
export interface AccessRuleInput {
  /** Principal names this rule applies to (exact). */
  principals?: string[];
  /** Groups this rule applies to (exact); a caller in any of them matches. */
  groups?: string[];
  /**
   * Authentication methods the rule is limited to (`basic`, `bearer`, `header`, `jwt`, `client_cert`, `none`);
   * absent: any. Names are shared across methods — a basic user, a token name and a JWT `sub` may
   * all be `alice` — so a rule for a powerful principal should say which method proves it.
   */
  methods?: string[];
  /** Anchored regexes on the metric family name; absent: every family. */
  allow_metrics?: string[];
  /** Anchored regexes on the metric family name, applied after allow_metrics. */
  deny_metrics?: string[];
  /** Only series carrying every one of these labels with a matching value are returned. */
  enforce_labels?: Record<string, LabelMatchInput>;
  /** The rule applies only to callers from these networks (CIDR ranges); absent: from anywhere. */
  networks?: string[];
}

/** `access_rules` (scrapeguard extension): per-caller authorization. */
export interface AccessRulesInput {
  rules?: AccessRuleInput[];
  default?: 'deny' | 'allow';
  on_empty?: 'ok' | 'forbid';
}

/** `audit_log` (scrapeguard extension): one JSON line per request. */
export interface AuditLogInput {
  /** File to append to (created 0600). */
  path?: string;
  /** Write to stdout instead of a file. */
  stdout?: boolean;
  /** Rotate when the file reaches this many bytes (default 100 MiB; 0: never, e.g. under logrotate). */
  max_size_bytes?: number;
  /** Rotated files kept (`FILE.1` … `FILE.N`, default 5). */
  keep?: number;
}

/** The whole document. Unknown keys are errors. */
export interface WebConfigInput {
  tls_server_config?: TlsServerConfigInput;
  http_server_config?: HttpServerConfigInput;
  basic_auth_users?: Record<string, string>;
  rate_limit?: RateLimitInput;
  limits?: LimitsInput;
  bearer_auth?: BearerAuthInput;
  header_auth?: HeaderAuthInput;
  jwt_auth?: JwtAuthInput;
  client_cert_auth?: ClientCertAuthInput;
  auth_excluded_paths?: AuthExcludedPathInput[];
  access_rules?: AccessRulesInput;
  audit_log?: AuditLogInput;
  /**
   * Client networks that may connect (CIDR ranges or single addresses, IPv4 and IPv6); absent:
   * everyone. Checked when the TCP connection is accepted (a refused client gets no TLS handshake).
   */
  allowed_networks?: string[];

  redaction?: RedactionInput;
}

/** `redaction` (scrapeguard extension): what is removed from the exposition before it leaves. */
export interface RedactionInput {
  /** Anchored regexes on label names: the label is removed (series that become equal are merged). */
  drop_labels?: string[];
  /** Anchored regexes on label names: the value becomes `mask_value`. */
  mask_labels?: string[];
  /** Replacement for masked values and scrubbed HELP fragments (default `[REDACTED]`). */
  mask_value?: string;
  /** Anchored regexes on label names: the value becomes a keyed HMAC-SHA256 (16 hex digits). */
  hash_labels?: string[];
  /** File holding the HMAC key (≥ 16 bytes); without it a random per-process key is used. */
  hash_key_file?: string;
  /** Anchored regexes on metric family names (text-format or OpenMetrics name): the family is removed. */
  drop_metrics?: string[];
  /** Unanchored regexes: matches in HELP text become `mask_value`. */
  redact_help?: string[];
  /** Secret detectors: `true` (default, all), `false`, a list of names to run, or `{name: bool}`. */
  detect_secrets?: boolean | string[] | Record<string, boolean>;
}

/** Facts about an X.509 certificate that the server reports and checks. */
export interface CertificateFacts {
  subject: string;
  issuer: string;
  /** Subject alternative names, e.g. `DNS:localhost`, `IP Address:127.0.0.1`. */
  subjectAltNames: string[];
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
}

/** TLS settings after validation; PEM contents already read. */
export interface ResolvedTls {
  /** Server certificate chain (PEM). */
  certPem: string;
  /** Absolute path of `cert_file`, when the certificate came from a file (the scrape-config generator names it). */
  certFile?: string;
  /** Server private key (PEM). Secret: a non-enumerable property, so serializing or inspecting the config never shows it. */
  keyPem: string;
  /** Facts of the leaf server certificate. */
  certificate: CertificateFacts;
  /** Client CA bundle (PEM), when configured. */
  clientCaPem?: string;
  /** Absolute path of `client_ca_file`, when the client CA came from a file. */
  clientCaFile?: string;
  /** Normalised policy (`RequireClientCert` becomes `RequireAnyClientCert`). */
  clientAuth: ClientAuthType;
  /** When set, a client certificate must carry one of these SANs (exact match). */
  clientAllowedSans?: string[];
  minVersion: TlsVersionName;
  maxVersion: TlsVersionName;
  /** Go/IANA cipher suite names, as configured (validated). Empty: runtime default. */
  cipherSuites: string[];
  preferServerCipherSuites: boolean;
  /** Go curve names (`CurveP256`, `X25519`…), as configured (validated). Empty: runtime default. */
  curvePreferences: string[];
}

/** Token bucket parameters. */
export interface RateLimit {
  intervalMs: number;
  burst: number;
}

/** Everything the server needs, validated. */
export interface ResolvedConfig {
  /** Absolute path of the config file; absent for in-code objects. */
  file?: string;
  /** Every file whose content this config depends on (config file, cert, key, CA), absolute. */
  dependsOn: string[];
  /** Absent: plain HTTP. */
  tls?: ResolvedTls;
  http: {
    http2: boolean;
    /** Extra response headers (validated against the toolkit's allow-list). */
    headers: Record<string, string>;
  };
  /** user → bcrypt hash; empty map: no basic auth. */
  basicAuthUsers: Map<string, string>;
  /** Global rate limit (`rate_limit`), absent when disabled. */
  rateLimit?: RateLimit;
  limits: {
    perClientRateLimit?: RateLimit;
    maxConnections: number;
    /** 0: no per-address cap. */
    maxConnectionsPerClient: number;
    handshakeTimeoutMs: number;
    http2MaxConcurrentStreams: number;
    /** 0: no per-address cap. */
    http2MaxStreamsPerClient: number;
    readHeaderTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    maxHeaderBytes: number;
    maxConcurrentBcrypt: number;
    /** Absent: brute-force protection off (`threshold: 0`). */
    authFailureBackoff?: ResolvedAuthFailureBackoff;
    /** Cardinality and size limits on each scrape's exposition; absent when none is set. */
    series?: ResolvedSeriesLimits;
  };
  /** `bearer_auth`, absent when not configured. */
  bearerAuth?: ResolvedBearerAuth;
  /** `header_auth`, absent when not configured. */
  headerAuth?: ResolvedHeaderAuth;
  /** `jwt_auth`, absent when not configured. */
  jwtAuth?: ResolvedJwtAuth;
  /** `client_cert_auth`, absent when not configured. */
  clientCertAuth?: ResolvedClientCertAuth;
  /** Paths served without authentication (exact match); absent when none. */
  authExcludedPaths?: { path: string; force: boolean }[];
  /** `access_rules`, absent: every authenticated caller sees everything. */
  accessRules?: ResolvedAccessRules;
  /** `audit_log`, absent when not configured. */
  auditLog?: ResolvedAuditLog;
  /** `allowed_networks`, normalised CIDR ranges; absent: every address may connect. */
  allowedNetworks?: string[];

  /** `redaction`, with defaults (every secret detector on) when absent. */
  redaction: ResolvedRedaction;
  /** Non-fatal findings (expired certificate, loose key file mode…), already formatted. */
  warnings: string[];
}

/** `limits.max_series_per_scrape` … `limits.max_label_value_bytes` resolved; `0`: no limit. */
export interface ResolvedSeriesLimits {
  maxSeriesPerScrape: number;
  maxSeriesPerFamily: number;
  maxLabelsPerSeries: number;
  maxLabelValueBytes: number;
}

/** `limits.auth_failure_backoff` resolved. */
export interface ResolvedAuthFailureBackoff {
  threshold: number;
  baseDelayMs: number;
  maxDelayMs: number;
  forgetAfterMs: number;
  maxClients: number;
}

/** One static token, as its digest only. */
export interface ResolvedBearerToken {
  name: string;
  /** SHA-256 of the token, lower-case hex. */
  sha256: string;
  groups: string[];
  /** Unix ms after which the token is refused. */
  expiresAt?: number;
}

/** `bearer_auth` resolved: token files already read and hashed. */
export interface ResolvedBearerAuth {
  tokens: ResolvedBearerToken[];
  /** Revoked digests (lower-case hex), sorted. */
  revoked: string[];
}

/** `header_auth` resolved: key files already read and hashed. */
export interface ResolvedHeaderAuth {
  /** Header name, lower-case. */
  header: string;
  /** Keys by digest, as bearer tokens are. */
  keys: ResolvedBearerToken[];
  /** Revoked digests (lower-case hex), sorted. */
  revoked: string[];
}

/** `jwt_auth.kubernetes` resolved. */
export interface ResolvedKubernetesJwt {
  /** Where the keys come from when neither `jwks_file` nor `jwks_url` is set. */
  discoveryUrl: string;
  /** CA bundle (PEM) for the discovery and JWKS fetches. */
  caPem?: string;
  /** Absolute path of the token sent to the discovery and JWKS endpoints (read per fetch). */
  tokenFile?: string;
  requirePodBinding: boolean;
}

/** `jwt_auth` resolved. */
export interface ResolvedJwtAuth {
  /** Kubernetes mode, absent for generic JWTs. */
  kubernetes?: ResolvedKubernetesJwt;
  /** The key set: parsed from `jwks_file`, or fetched from `url`; absent when only `secret_file` is used. */
  jwks?: { kind: 'file'; keys: { keys: Record<string, unknown>[] } } | { kind: 'url'; url: string };
  issuer?: string[];
  audience?: string[];
  algorithms: string[];
  /** SHA-256 of the HMAC secret, so a secret change is a config change; the secret itself is `secret`. */
  secretDigest?: string;
  /** HMAC secret bytes. Secret: non-enumerable, never serialized. */
  secret?: Uint8Array;
  requiredScopes: string[];
  groupsClaim?: string;
  principalClaim: string;
  clockToleranceSec: number;
  jwksCooldownMs: number;
  jwksTimeoutMs: number;
  jwksMaxAgeMs: number;
}

/** `client_cert_auth` resolved. */
export interface ResolvedClientCertAuth {
  principalFrom: PrincipalSource;
  groupsFrom?: { kind: 'ou' } | { kind: 'san_map'; map: Record<string, string[]> };
}

/** A label constraint as configured (compiled by `access/rules.ts`). */
export type ResolvedLabelMatch = { name: string; value: string } | { name: string; regex: string };

/** One access rule, validated (regexes known to compile), not yet compiled. */
export interface ResolvedAccessRule {
  principals: string[];
  groups: string[];
  /** Methods the rule is limited to; absent: any. */
  methods?: AuthMethod[];
  /** Absent: every family. */
  allowMetrics?: string[];
  denyMetrics: string[];
  enforceLabels: ResolvedLabelMatch[];
  /** Normalised CIDR ranges the caller must come from; absent: anywhere. */
  networks?: string[];
}

/** `access_rules` resolved. */
export interface ResolvedAccessRules {
  rules: ResolvedAccessRule[];
  default: 'deny' | 'allow';
  onEmpty: 'ok' | 'forbid';
}

/** `audit_log` resolved. */
export type ResolvedAuditLog = { kind: 'stdout' } | { kind: 'file'; path: string; maxSizeBytes: number; keep: number };

/** `redaction` after validation: patterns as written (each compiles), key file read. */
export interface ResolvedRedaction {
  dropLabels: string[];
  maskLabels: string[];
  maskValue: string;
  hashLabels: string[];
  /** Absolute path of the hash key file, when configured. */
  hashKeyFile?: string;
  /** The HMAC key read from `hashKeyFile`. Secret: not enumerable, so never serialized. */
  hashKey?: Buffer;
  dropMetrics: string[];
  redactHelp: string[];
  /** Detector names to run, or every detector. */
  detectSecrets: 'all' | string[];
}
