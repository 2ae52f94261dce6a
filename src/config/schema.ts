/**
 * The configuration contract: `WebConfigInput` is the document as written in `web-config.yml`
 * (a superset of exporter-toolkit's format), `ResolvedConfig` is what the loader produces after
 * validation, with files read, defaults applied and durations converted to milliseconds.
 */

/** The five client-certificate policies of Go's `crypto/tls` (plus the `RequireClientCert` alias). */
export type ClientAuthType =
  | 'NoClientCert'
  | 'RequestClientCert'
  | 'RequireAnyClientCert'
  | 'VerifyClientCertIfGiven'
  | 'RequireAndVerifyClientCert';

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
  /** Time allowed to receive the request headers (default 10s). */
  read_header_timeout?: GoDuration;
  /** Time allowed for a whole request (default 30s). */
  request_timeout?: GoDuration;
  /** Keep-alive idle time before the server closes a connection (default 120s). */
  idle_timeout?: GoDuration;
  /** Largest request header block accepted (default 16384 bytes). */
  max_header_bytes?: number;
  /** bcrypt verifications running at once (default 4); more wait in a bounded queue. */
  max_concurrent_bcrypt?: number;
}

/** The whole document. Unknown keys are errors. */
export interface WebConfigInput {
  tls_server_config?: TlsServerConfigInput;
  http_server_config?: HttpServerConfigInput;
  basic_auth_users?: Record<string, string>;
  rate_limit?: RateLimitInput;
  limits?: LimitsInput;
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
  /** Server private key (PEM). Secret: a non-enumerable property, so serializing or inspecting the config never shows it. */
  keyPem: string;
  /** Facts of the leaf server certificate. */
  certificate: CertificateFacts;
  /** Client CA bundle (PEM), when configured. */
  clientCaPem?: string;
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
    readHeaderTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    maxHeaderBytes: number;
    maxConcurrentBcrypt: number;
  };
  /** `redaction`, with defaults (every secret detector on) when absent. */
  redaction: ResolvedRedaction;
  /** Non-fatal findings (expired certificate, loose key file mode…), already formatted. */
  warnings: string[];
}

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
