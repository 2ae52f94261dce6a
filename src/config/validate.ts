/**
 * The one validation path shared by files and in-code objects: checks a parsed web-config value
 * key by key, reads the files it names, and either returns the {@link ResolvedConfig} or throws a
 * {@link ConfigError} listing every problem. Where a problem sits is asked of `ConfigSource.locate`
 * (YAML positions for files, nothing for objects), so both forms get the same checks and messages.
 */
import { stat } from 'node:fs/promises';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createSecureContext } from 'node:tls';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { tlsServerOptions } from '../tls/server-options.js';
import { CURVES, INSECURE_CIPHERS, isKnownCipher, SECURE_TLS12_CIPHERS, TLS_VERSION_RANK } from '../tls/names.js';
import { bcryptHashProblem } from './bcrypt-hash.js';
import { checkAccessRules } from './access-rules.js';
import { checkAllowedNetworks } from './allowed-networks.js';
import { checkAuditLog } from './audit-log.js';
import { checkAuthExcludedPaths } from './auth-excluded-paths.js';
import { checkAuthFailureBackoff } from './auth-backoff.js';
import { checkBearerAuth } from './bearer-auth.js';
import { checkClientCertAuth } from './client-cert-auth.js';
import { checkJwtAuth } from './jwt-auth.js';
import { checkHeaderAuth } from './header-auth.js';
import { checkRedaction } from './redaction.js';
import { certificateFacts, checkCaBundle, parseCertificateChain, parsePrivateKey } from './certs.js';
import { Checker, fmtMs, INVALID, isMapping, isSet, isText, kind, quote, readMaterial, type Mapping, type Read } from './checker.js';
import type { KeyPath } from './locate.js';

import type { ConfigSource } from './checker.js';
export { formatPath, type ConfigSource } from './checker.js';
import type { ClientAuthType, RateLimit, ResolvedConfig, ResolvedSeriesLimits, ResolvedTls, TlsVersionName } from './schema.js';

const TOP_KEYS = [
  'tls_server_config',
  'http_server_config',
  'basic_auth_users',
  'rate_limit',
  'limits',
  'bearer_auth',
  'header_auth',
  'jwt_auth',
  'client_cert_auth',
  'auth_excluded_paths',
  'access_rules',
  'audit_log',
  'redaction',
  'allowed_networks',
] as const;
const TLS_KEYS = [
  'cert',
  'cert_file',
  'key',
  'key_file',
  'client_ca',
  'client_ca_file',
  'client_auth_type',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
] as const;
const HTTP_KEYS = ['http2', 'headers'] as const;
const RATE_KEYS = ['interval', 'burst'] as const;
const LIMIT_KEYS = [
  'per_client_rate_limit',
  'max_connections',
  'max_connections_per_client',
  'handshake_timeout',
  'http2_max_concurrent_streams',
  'http2_max_streams_per_client',
  'read_header_timeout',
  'request_timeout',
  'idle_timeout',
  'max_header_bytes',
  'max_concurrent_bcrypt',
  'auth_failure_backoff',
  'max_series_per_scrape',
  'max_series_per_family',
  'max_labels_per_series',
  'max_label_value_bytes',
] as const;

const CLIENT_AUTH: Readonly<Record<string, ClientAuthType>> = {
  NoClientCert: 'NoClientCert',
  RequestClientCert: 'RequestClientCert',
  RequireAnyClientCert: 'RequireAnyClientCert',
  RequireClientCert: 'RequireAnyClientCert', // exporter-toolkit's backwards-compatible alias
  VerifyClientCertIfGiven: 'VerifyClientCertIfGiven',
  RequireAndVerifyClientCert: 'RequireAndVerifyClientCert',
};
const VERIFYING: ReadonlySet<ClientAuthType> = new Set(['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']);

/** exporter-toolkit's allow-list of extra response headers (web/handler.go), values case-sensitive. */
const EXTRA_HEADERS: ReadonlyMap<string, readonly string[] | undefined> = new Map([
  ['Strict-Transport-Security', undefined],
  ['X-Content-Type-Options', ['nosniff']],
  ['X-Frame-Options', ['deny', 'sameorigin']],
  ['X-XSS-Protection', undefined],
  ['Content-Security-Policy', undefined],
]);

// Required by HTTP/2 on TLS 1.2 (RFC 7540 §9.2.2); Go's http2.ConfigureServer refuses a suite list without one.
const HTTP2_REQUIRED = ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'];

const DEFAULT_LIMITS = {
  maxConnections: 512,
  // One Prometheus uses one keep-alive connection per target; 32 leaves room for HA pairs, agents
  // and operators behind one NAT, while one address can take at most 1/16 of max_connections.
  maxConnectionsPerClient: 32,
  // A handshake takes a few round trips; 5 s covers a slow WAN with retransmits, and bounds how long
  // a stalled handshake holds a slot (read_header_timeout, 10 s, applies once TLS is up).
  handshakeTimeoutMs: 5_000,
  // nginx 128, Go 250, Node unlimited: a scraper needs one or two streams.
  http2MaxConcurrentStreams: 100,
  // Each HTTP/2 request is rendered whole and held until the peer reads it: this many per address
  // bounds what one client can pin (measured: 8 keep a never-reading flood under 64 MiB with
  // 440 KiB responses). A scraper needs one at a time.
  http2MaxStreamsPerClient: 8,
  readHeaderTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  maxHeaderBytes: 16_384,
  // bcrypt runs on libuv's pool; one core stays free for the event loop (TLS, serving), or a
  // wrong-password flood starves legitimate scrapes (measured: bench S4).
  maxConcurrentBcrypt: Math.max(1, availableParallelism() - 1),
} as const;

// Node timers and server timeouts take a 32-bit signed number of milliseconds.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

interface TlsOutcome {
  /** Whether the section turns TLS on (exporter-toolkit's validateTLSPaths). */
  on: boolean;
  tls?: ResolvedTls;
  /** Validated cipher names and minimum version, for the HTTP/2 cross-check. */
  ciphers?: string[];
  minVersion?: TlsVersionName;
}

/** One PEM item (cert, key or client CA) as configured: its text when usable, and how to name it. */
interface PemItem {
  pem?: string;
  /** `cert_file "/abs/path"` or `cert (inline)`, for messages. */
  what: string;
  /** Key path to report problems at. */
  path: KeyPath;
  /** Absolute path when read from a file. */
  abs?: string;
}

/**
 * Picks the file or inline form of one item (`NAME_file` / `NAME`) and reads it. Nothing is read
 * when both forms are set (already an error) or the inline form is really a path (ditto).
 */
async function pemItem(
  c: Checker,
  section: KeyPath,
  name: 'cert' | 'key' | 'client_ca',
  inline: Read<string>,
  file: Read<string>,
  inlineIsPath: boolean,
): Promise<PemItem> {
  if (isText(file) && !isSet(inline)) {
    const path = [...section, `${name}_file`];
    const got = await readMaterial(c, path, `${name}_file`, file);
    return got ? { pem: got.pem, what: `${name}_file ${quote(got.abs)}`, path, abs: got.abs } : { what: `${name}_file`, path };
  }
  const path = [...section, name];
  const usable = isText(inline) && !isSet(file) && !inlineIsPath;
  return usable ? { pem: inline, what: `${name} (inline)`, path } : { what: `${name} (inline)`, path };
}

async function checkTls(c: Checker, raw: unknown): Promise<TlsOutcome | typeof INVALID> {
  const P = ['tls_server_config'] as const;
  const at = (key: string): KeyPath => [...P, key];
  const m = c.mapping(raw, P, TLS_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return { on: false };
  const before = c.issues.length;

  const cert = c.text(m.cert, at('cert'));
  const certFile = c.text(m.cert_file, at('cert_file'));
  const key = c.text(m.key, at('key'));
  const keyFile = c.text(m.key_file, at('key_file'));
  const clientCa = c.text(m.client_ca, at('client_ca'));
  const clientCaFile = c.text(m.client_ca_file, at('client_ca_file'));
  const clientAuthText = c.text(m.client_auth_type, at('client_auth_type'));
  const sans = c.textList(m.client_allowed_sans, at('client_allowed_sans'));
  const minText = c.text(m.min_version, at('min_version'));
  const maxText = c.text(m.max_version, at('max_version'));
  const ciphers = c.textList(m.cipher_suites, at('cipher_suites'));
  const prefer = c.bool(m.prefer_server_cipher_suites, at('prefer_server_cipher_suites'));
  const curves = c.textList(m.curve_preferences, at('curve_preferences'));

  // Values that can be checked on their own.
  let clientAuth: Read<ClientAuthType> = undefined;
  if (typeof clientAuthText === 'string' && clientAuthText !== '') {
    clientAuth = Object.hasOwn(CLIENT_AUTH, clientAuthText) ? CLIENT_AUTH[clientAuthText] : undefined;
    if (clientAuth === undefined) {
      c.error(at('client_auth_type'), `invalid ClientAuth: ${quote(clientAuthText)}; expected one of: ${Object.keys(CLIENT_AUTH).join(', ')}`);
      clientAuth = INVALID;
    }
  } else if (clientAuthText === INVALID) clientAuth = INVALID;

  const version = (text: Read<string>, name: string): Read<TlsVersionName> => {
    if (typeof text !== 'string') return text;
    if (Object.hasOwn(TLS_VERSION_RANK, text)) return text as TlsVersionName;
    c.error(at(name), `unknown TLS version: ${quote(text)}; expected one of: ${Object.keys(TLS_VERSION_RANK).join(', ')}`);
    return INVALID;
  };
  const minVersion = version(minText, 'min_version');
  const maxVersion = version(maxText, 'max_version');

  let ciphersOk = Array.isArray(ciphers);
  (Array.isArray(ciphers) ? ciphers : []).forEach((name, i) => {
    if (INSECURE_CIPHERS.has(name)) {
      c.error(
        [...at('cipher_suites'), i],
        `insecure cipher: ${quote(name)} is in Go's list of insecure cipher suites (tls.InsecureCipherSuites) and is refused`,
      );
      ciphersOk = false;
    } else if (!isKnownCipher(name)) {
      c.error([...at('cipher_suites'), i], `unknown cipher: ${quote(name)}`);
      ciphersOk = false;
    }
  });
  (Array.isArray(curves) ? curves : []).forEach((name, i) => {
    if (!Object.hasOwn(CURVES, name)) {
      c.error([...at('curve_preferences'), i], `unknown curve: ${quote(name)}; expected one of: ${Object.keys(CURVES).join(', ')}`);
    }
  });
  if (Array.isArray(sans)) {
    if (sans.length === 0) {
      c.error(at('client_allowed_sans'), 'client_allowed_sans is empty, so no client certificate could ever match; list the allowed SANs or remove the key');
    }
    sans.forEach((san, i) => {
      if (san === '') c.error([...at('client_allowed_sans'), i], 'empty SAN');
    });
  }

  // exporter-toolkit's validateTLSPaths: these keys turn TLS on.
  const turnsOn: Read<string>[] = [cert, certFile, key, keyFile, clientCa, clientCaFile, clientAuthText];
  const on = turnsOn.some(isSet);
  if (!on) {
    const ignored = ['min_version', 'max_version', 'cipher_suites', 'prefer_server_cipher_suites', 'curve_preferences', 'client_allowed_sans'].filter(
      (k) => m[k] !== undefined && m[k] !== null,
    );
    if (ignored.length > 0) {
      c.error(
        P,
        `${ignored.join(', ')} set but no certificate or key: TLS stays off (plain HTTP) and ${ignored.length > 1 ? 'these settings' : 'this setting'} would be ignored; set cert_file and key_file (or cert and key)`,
      );
    }
    for (const k of ['cert', 'cert_file', 'key', 'key_file'] as const) {
      if (m[k] === '') c.error(at(k), `${k} is empty, so TLS stays off (plain HTTP); set cert_file and key_file (or cert and key), or remove the key`);
    }
    return { on: false };
  }

  // Both forms of the same item: exporter-toolkit silently prefers the file.
  for (const [inline, file, inlineName, fileName] of [
    [cert, certFile, 'cert', 'cert_file'],
    [key, keyFile, 'key', 'key_file'],
    [clientCa, clientCaFile, 'client_ca', 'client_ca_file'],
  ] as const) {
    if (isSet(inline) && isSet(file)) {
      c.error(at(inlineName), `both ${inlineName} and ${fileName} are set; use only one (exporter-toolkit would silently ignore ${inlineName})`);
    }
  }
  for (const [inline, file, inlineName, fileName] of [
    [cert, certFile, 'cert', 'cert_file'],
    [key, keyFile, 'key', 'key_file'],
  ] as const) {
    if (!isSet(inline) && !isSet(file)) {
      const empty = m[fileName] === '' ? fileName : m[inlineName] === '' ? inlineName : undefined;
      c.error(empty ? at(empty) : P, `missing one of ${inlineName} or ${fileName}${empty ? ` (${empty} is empty)` : ''}`);
    }
  }

  // A file path written under the inline key is the likelier mistake than broken PEM.
  const inlineIsPath = (value: Read<string>, name: string): boolean => {
    if (!isText(value) || value.includes('\n') || value.includes('-----BEGIN')) return false;
    c.error(at(name), `${name} must hold PEM text, but it is a single line without "-----BEGIN"; for a file path use ${name}_file`);
    return true;
  };
  const certIsPath = inlineIsPath(cert, 'cert');
  const keyIsPath = inlineIsPath(key, 'key');
  const caIsPath = inlineIsPath(clientCa, 'client_ca');

  // Read and parse the certificate, key and client CA.
  const certItem = await pemItem(c, P, 'cert', cert, certFile, certIsPath);
  const { pem: certPem, what: certWhat, path: certPath } = certItem;
  let chain: X509Certificate[] | undefined;
  if (certPem !== undefined) {
    const parsed = parseCertificateChain(certPem, certWhat);
    if (parsed.ok) chain = parsed.value;
    else c.error(certPath, parsed.error);
  }

  const keyItem = await pemItem(c, P, 'key', key, keyFile, keyIsPath);
  const { pem: keyPem, what: keyWhat, path: keyPath } = keyItem;
  if (keyItem.abs !== undefined && process.platform !== 'win32') {
    try {
      const mode = (await stat(keyItem.abs)).mode & 0o777;
      if (mode & 0o077) {
        c.warn(`key file ${quote(keyItem.abs)} is readable by group/others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600`);
      }
    } catch {
      // Just read successfully; a failing stat changes nothing about the key itself.
    }
  } else if (keyPem !== undefined && c.source.file !== undefined && c.source.fileMode !== undefined && c.source.fileMode & 0o077) {
    const mode = (c.source.fileMode & 0o777).toString(8).padStart(4, '0');
    c.warn(`config file ${quote(c.source.file)} holds an inline private key and is readable by group/others (mode ${mode}); chmod 600`);
  }
  let keyObject: KeyObject | undefined;
  if (keyPem !== undefined) {
    const parsed = parsePrivateKey(keyPem, keyWhat);
    if (parsed.ok) keyObject = parsed.value;
    else c.error(keyPath, parsed.error);
  }

  const leaf = chain?.[0];
  if (leaf && keyObject) {
    let matches: boolean;
    try {
      matches = leaf.checkPrivateKey(keyObject);
    } catch {
      matches = false;
    }
    if (!matches) c.error(keyPath, `the private key (${keyWhat}) does not match the certificate (${certWhat})`);
  }
  if (leaf) {
    const now = Date.now();
    const notAfter = new Date(leaf.validTo);
    const notBefore = new Date(leaf.validFrom);
    if (notAfter.getTime() < now) c.warn(`server certificate (${certWhat}) expired on ${notAfter.toISOString()}`);
    if (notBefore.getTime() > now) c.warn(`server certificate (${certWhat}) is not yet valid: valid from ${notBefore.toISOString()}`);
  }

  const caItem = await pemItem(c, P, 'client_ca', clientCa, clientCaFile, caIsPath);
  const caPath = caItem.path;
  let caPem: string | undefined;
  if (caItem.pem !== undefined) {
    const bundle = checkCaBundle(caItem.pem, caItem.what);
    if (bundle.ok) caPem = caItem.pem;
    else for (const e of bundle.errors) c.error(caPath, e);
  }
  const caGiven = isSet(clientCa) || isSet(clientCaFile);

  // Client certificate policy: what exporter-toolkit accepts silently is refused here.
  if (clientAuth !== INVALID) {
    const policy: ClientAuthType = clientAuth ?? 'NoClientCert';
    if (caGiven && policy === 'NoClientCert') {
      c.error(
        caPath,
        "client CA's have been configured without a Client Auth Policy; set client_auth_type (RequireAndVerifyClientCert to require a verified client certificate)",
      );
    }
    if (VERIFYING.has(policy) && !caGiven) {
      c.error(
        at('client_auth_type'),
        `client_auth_type ${policy} verifies client certificates, but neither client_ca_file nor client_ca is set (exporter-toolkit would silently verify against the system's root CAs)`,
      );
    }
    if (sans !== undefined && sans !== INVALID && !VERIFYING.has(policy)) {
      c.error(
        at('client_allowed_sans'),
        policy === 'NoClientCert'
          ? 'client_allowed_sans needs a client_auth_type that verifies client certificates (VerifyClientCertIfGiven or RequireAndVerifyClientCert); with NoClientCert no certificate is asked for, so the SANs would never be checked'
          : `client_allowed_sans needs a client_auth_type that verifies client certificates (VerifyClientCertIfGiven or RequireAndVerifyClientCert); with ${policy} anyone can present a self-signed certificate carrying an allowed SAN`,
      );
    }
    if (policy === 'RequestClientCert') {
      c.warn(
        'tls_server_config.client_auth_type RequestClientCert is insecure: client certificates are requested but neither required nor verified; use RequireAndVerifyClientCert with client_ca_file',
      );
    } else if (policy === 'RequireAnyClientCert') {
      c.warn(
        `tls_server_config.client_auth_type ${clientAuthText === 'RequireClientCert' ? 'RequireClientCert (RequireAnyClientCert)' : 'RequireAnyClientCert'} is insecure: a client certificate is required but not verified, so any self-signed certificate is accepted; use RequireAndVerifyClientCert with client_ca_file`,
      );
    }
  }

  // Versions and suites.
  const min: TlsVersionName | undefined = minVersion === INVALID ? undefined : (minVersion ?? 'TLS12');
  const max: TlsVersionName | undefined = maxVersion === INVALID ? undefined : (maxVersion ?? 'TLS13');
  if (min && max && TLS_VERSION_RANK[min] > TLS_VERSION_RANK[max]) {
    c.error(
      minVersion !== undefined ? at('min_version') : at('max_version'),
      `min_version ${min}${minVersion === undefined ? ' (default)' : ''} is above max_version ${max}${maxVersion === undefined ? ' (default)' : ''}`,
    );
  }
  if (min && TLS_VERSION_RANK[min] < TLS_VERSION_RANK.TLS12) {
    c.warn(`tls_server_config.min_version ${min} allows TLS versions deprecated by RFC 8996; use TLS12 or TLS13`);
  }
  if (ciphersOk && Array.isArray(ciphers) && ciphers.length > 0 && min && max) {
    if (TLS_VERSION_RANK[max] < TLS_VERSION_RANK.TLS13 && !ciphers.some((n) => Object.hasOwn(SECURE_TLS12_CIPHERS, n))) {
      c.error(at('cipher_suites'), `cipher_suites lists only TLS 1.3 suites, which are not configurable; with max_version ${max} no cipher suite is left`);
    }
    if (min === 'TLS13') c.warn('tls_server_config.cipher_suites has no effect: TLS 1.3 suites are not configurable and min_version is TLS13');
  }

  if (c.issues.length > before || !certPem || !keyPem || !leaf || !min || !max) {
    return { on: true };
  }
  const tls = {
    certPem,
    certificate: certificateFacts(leaf),
    clientAuth: clientAuth === INVALID || clientAuth === undefined ? 'NoClientCert' : clientAuth,
    minVersion: min,
    maxVersion: max,
    cipherSuites: Array.isArray(ciphers) ? [...ciphers] : [],
    preferServerCipherSuites: prefer === INVALID || prefer === undefined ? true : prefer,
    curvePreferences: Array.isArray(curves) ? [...curves] : [],
    ...(caPem !== undefined ? { clientCaPem: caPem } : {}),
    ...(certItem.abs !== undefined ? { certFile: certItem.abs } : {}),
    ...(caPem !== undefined && caItem.abs !== undefined ? { clientCaFile: caItem.abs } : {}),
    ...(Array.isArray(sans) ? { clientAllowedSans: [...sans] } : {}),
  } as ResolvedTls;
  // Non-enumerable: JSON.stringify, util.inspect and spreads of the config (a user logging
  // `guard.config`) never carry the private key.
  Object.defineProperty(tls, 'keyPem', { value: keyPem, enumerable: false });
  // Last proof: OpenSSL itself must accept the exact settings the server will use (it refuses,
  // for example, RSA keys below its security level's minimum that parse and match fine).
  try {
    createSecureContext(tlsServerOptions(tls));
  } catch (error) {
    const reason = String((error as Error).message).replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, '');
    c.error(certPath, `OpenSSL refuses this certificate/key with these TLS settings: ${reason}`);
    return { on: true };
  }
  return { on: true, tls, ciphers: tls.cipherSuites, minVersion: min };
}

function checkHttp(c: Checker, raw: unknown): { http2: boolean; headers: Record<string, string> } | typeof INVALID {
  const P = ['http_server_config'] as const;
  const m = c.mapping(raw, P, HTTP_KEYS);
  if (m === INVALID) return INVALID;
  const http2 = m ? c.bool(m.http2, [...P, 'http2']) : undefined;
  const headers: Record<string, string> = {};
  const hp = [...P, 'headers'] as const;
  const h = m ? c.mapping(m.headers, hp) : undefined;
  let ok = http2 !== INVALID && h !== INVALID;
  if (h && h !== INVALID) {
    // exporter-toolkit's validateHeaderConfig: an allow-list of names, enumerated values, both case-sensitive.
    for (const [name, rawValue] of Object.entries(h)) {
      const path = [...hp, name];
      if (!EXTRA_HEADERS.has(name)) {
        const other = [...EXTRA_HEADERS.keys()].find((k) => k.toLowerCase() === name.toLowerCase());
        c.error(
          path,
          `HTTP header ${JSON.stringify(name)} can not be configured${other ? ` (names are case-sensitive: write ${JSON.stringify(other)})` : `; allowed: ${[...EXTRA_HEADERS.keys()].join(', ')}`}`,
        );
        ok = false;
        continue;
      }
      const value = rawValue === null || rawValue === undefined ? '' : c.text(rawValue, path);
      if (value === INVALID || value === undefined) {
        ok = false;
        continue;
      }
      const allowed = EXTRA_HEADERS.get(name);
      if (allowed && !allowed.includes(value)) {
        c.error(path, `invalid value for ${name}. Expected one of: [${allowed.map((v) => JSON.stringify(v)).join(' ')}], but got: ${quote(value)}`);
        ok = false;
      } else if (value === '') {
        c.error(path, `empty value for ${name}`);
        ok = false;
      } else if (/[\0-\x08\x0a-\x1f\x7f]/.test(value)) {
        c.error(path, `the value of ${name} contains a control character, which HTTP header values cannot carry`);
        ok = false;
      } else if (/[^\t\x20-\xff]/.test(value)) {
        // Node refuses to write such a header (ERR_INVALID_CHAR): it would fail every scrape.
        c.error(path, `the value of ${name} contains a character outside Latin-1, which HTTP header values cannot carry; percent-encode it`);
        ok = false;
      } else {
        headers[name] = value;
      }
    }
  }
  if (!ok || http2 === INVALID) return INVALID;
  return { http2: http2 ?? true, headers };
}

function checkUsers(c: Checker, raw: unknown): Map<string, string> | typeof INVALID {
  const P = ['basic_auth_users'] as const;
  const users = new Map<string, string>();
  const m = c.mapping(raw, P);
  if (m === INVALID) return INVALID;
  if (m === undefined) return users;
  let ok = true;
  for (const [user, value] of Object.entries(m)) {
    const path = [...P, user];
    if (user === '') {
      c.error(path, 'empty user name');
      ok = false;
    } else if (user.includes(':')) {
      c.error(path, `user name ${quote(user)} contains ":", which HTTP Basic authentication cannot carry (RFC 7617)`);
      ok = false;
    }
    // The value may be a plaintext password written by mistake: never echo it.
    if (value === null || value === undefined) {
      c.error(path, `no bcrypt hash given for user ${quote(user)}; generate one with \`scrapeguard hash-password\``);
      ok = false;
      continue;
    }
    const hash = c.text(value, path, 'a bcrypt hash (a string)');
    if (typeof hash !== 'string') {
      ok = false;
      continue;
    }
    const problem = bcryptHashProblem(hash);
    if (problem) {
      c.error(path, problem);
      ok = false;
    } else {
      users.set(user, hash);
    }
  }
  return ok ? users : INVALID;
}

function checkRateLimit(c: Checker, raw: unknown, P: KeyPath): Read<RateLimit> {
  const m = c.mapping(raw, P, RATE_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const interval = c.duration(m.interval, [...P, 'interval']);
  const burst = c.int(m.burst, [...P, 'burst'], 0);
  if (interval === INVALID || burst === INVALID) return INVALID;
  if (interval === undefined) {
    if (burst !== undefined && burst > 0) {
      c.error(P, 'burst is set but interval is missing, so rate limiting would be off; set interval (e.g. "1s"), or interval: 0 to disable');
      return INVALID;
    }
    return undefined;
  }
  if (interval.ms < 0) {
    c.error([...P, 'interval'], `must not be negative, got ${quote(interval.text)}`);
    return INVALID;
  }
  if (interval.ms === 0) return undefined; // `0` disables, as in exporter-toolkit
  if (burst === undefined) {
    c.error(P, "missing burst: with interval set, exporter-toolkit's default burst 0 refuses every request; set burst to 1 or more");
    return INVALID;
  }
  if (burst < 1) {
    c.error([...P, 'burst'], 'burst must be at least 1 when interval is set (burst 0 refuses every request)');
    return INVALID;
  }
  return { intervalMs: interval.ms, burst };
}

function checkLimits(c: Checker, raw: unknown): ResolvedConfig['limits'] | typeof INVALID {
  const P = ['limits'] as const;
  const m = c.mapping(raw, P, LIMIT_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return { ...DEFAULT_LIMITS };
  const at = (key: string): KeyPath => [...P, key];
  const before = c.issues.length;

  const perClient = checkRateLimit(c, m.per_client_rate_limit, at('per_client_rate_limit'));
  const maxConnections = c.int(m.max_connections, at('max_connections'), 1);
  const maxConnectionsPerClient = c.int(m.max_connections_per_client, at('max_connections_per_client'), 0);
  const http2Streams = c.int(m.http2_max_concurrent_streams, at('http2_max_concurrent_streams'), 1);
  const http2StreamsPerClient = c.int(m.http2_max_streams_per_client, at('http2_max_streams_per_client'), 0);
  if (typeof http2Streams === 'number' && http2Streams > 2 ** 31 - 1) {
    c.error(at('http2_max_concurrent_streams'), `too large: at most ${2 ** 31 - 1} (HTTP/2 stream identifiers are 31 bits), got ${http2Streams}`);
  }
  const maxHeaderBytes = c.int(m.max_header_bytes, at('max_header_bytes'), 1);
  const maxConcurrentBcrypt = c.int(m.max_concurrent_bcrypt, at('max_concurrent_bcrypt'), 1);
  const series = checkSeriesLimits(c, m, at);
  // Off unless configured: a file node_exporter accepts must behave as it does there (no lockout).
  const backoff = m.auth_failure_backoff === undefined ? undefined : checkAuthFailureBackoff(c, m.auth_failure_backoff ?? {}, at('auth_failure_backoff'));
  const timeout = (key: string, fallback: number): Read<{ ms: number; text: string }> => {
    const d = c.duration(m[key], at(key));
    if (d === INVALID) return INVALID;
    if (d === undefined) return { ms: fallback, text: `${fmtMs(fallback)}, the default` };
    if (d.ms <= 0) {
      c.error(at(key), `must be greater than 0, got ${quote(d.text)}`);
      return INVALID;
    }
    if (d.ms < 1) {
      // Node's timers count whole milliseconds; a sub-millisecond timeout is a typo ("10ns" for "10s").
      c.error(at(key), `must be at least 1ms, got ${quote(d.text)}`);
      return INVALID;
    }
    // Node takes whole milliseconds: round a fractional remainder up.
    const ms = Math.ceil(d.ms);
    if (ms > MAX_TIMEOUT_MS) {
      c.error(at(key), `too large: at most ${MAX_TIMEOUT_MS}ms (about 24.8 days), got ${quote(d.text)}`);
      return INVALID;
    }
    return { ms, text: d.text };
  };
  const readHeader = timeout('read_header_timeout', DEFAULT_LIMITS.readHeaderTimeoutMs);
  const request = timeout('request_timeout', DEFAULT_LIMITS.requestTimeoutMs);
  const idle = timeout('idle_timeout', DEFAULT_LIMITS.idleTimeoutMs);
  const handshake = timeout('handshake_timeout', DEFAULT_LIMITS.handshakeTimeoutMs);
  if (readHeader && readHeader !== INVALID && request && request !== INVALID && readHeader.ms > request.ms) {
    // Node's http server refuses a headers timeout longer than the request timeout.
    c.error(
      m.read_header_timeout !== undefined && m.read_header_timeout !== null ? at('read_header_timeout') : at('request_timeout'),
      `read_header_timeout (${readHeader.text}) must not exceed request_timeout (${request.text})`,
    );
  }
  if (
    c.issues.length > before ||
    perClient === INVALID ||
    backoff === INVALID ||
    readHeader === INVALID ||
    request === INVALID ||
    idle === INVALID ||
    handshake === INVALID
  ) {
    return INVALID;
  }
  const num = (v: Read<number>, fallback: number): number => (typeof v === 'number' ? v : fallback);
  return {
    ...(perClient ? { perClientRateLimit: perClient } : {}),
    maxConnections: num(maxConnections, DEFAULT_LIMITS.maxConnections),
    maxConnectionsPerClient: num(maxConnectionsPerClient, DEFAULT_LIMITS.maxConnectionsPerClient),
    // Unset: 5 s, or read_header_timeout when that is shorter (it bounded the handshake before).
    handshakeTimeoutMs:
      m.handshake_timeout !== undefined && m.handshake_timeout !== null
        ? (handshake?.ms ?? DEFAULT_LIMITS.handshakeTimeoutMs)
        : Math.min(DEFAULT_LIMITS.handshakeTimeoutMs, readHeader?.ms ?? DEFAULT_LIMITS.readHeaderTimeoutMs),
    http2MaxConcurrentStreams: num(http2Streams, DEFAULT_LIMITS.http2MaxConcurrentStreams),
    http2MaxStreamsPerClient: num(http2StreamsPerClient, DEFAULT_LIMITS.http2MaxStreamsPerClient),
    readHeaderTimeoutMs: readHeader?.ms ?? DEFAULT_LIMITS.readHeaderTimeoutMs,
    requestTimeoutMs: request?.ms ?? DEFAULT_LIMITS.requestTimeoutMs,
    idleTimeoutMs: idle?.ms ?? DEFAULT_LIMITS.idleTimeoutMs,
    maxHeaderBytes: num(maxHeaderBytes, DEFAULT_LIMITS.maxHeaderBytes),
    maxConcurrentBcrypt: num(maxConcurrentBcrypt, DEFAULT_LIMITS.maxConcurrentBcrypt),
    ...(backoff ? { authFailureBackoff: backoff } : {}),
    ...(series ? { series } : {}),
  };
}

/**
 * The export limits (`max_series_per_scrape` …): integers ≥ 0, `0` (the default) meaning no
 * limit, as Prometheus's `sample_limit` and `label_limit`. Undefined when none is set, so a
 * config without them resolves exactly as before.
 */
function checkSeriesLimits(c: Checker, m: Record<string, unknown>, at: (key: string) => KeyPath): ResolvedSeriesLimits | undefined {
  const read = (key: string): number => {
    const v = c.int(m[key], at(key), 0);
    return typeof v === 'number' ? v : 0;
  };
  const limits: ResolvedSeriesLimits = {
    maxSeriesPerScrape: read('max_series_per_scrape'),
    maxSeriesPerFamily: read('max_series_per_family'),
    maxLabelsPerSeries: read('max_labels_per_series'),
    maxLabelValueBytes: read('max_label_value_bytes'),
  };
  return Object.values(limits).some((v) => v > 0) ? limits : undefined;
}

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

/**
 * Validates `value` (the parsed document) and resolves it, reading the files it names.
 * @throws ConfigError listing every issue, in file order.
 */
export async function validateConfig(value: unknown, source: ConfigSource): Promise<ResolvedConfig> {
  const c = new Checker(source);
  if (source.file !== undefined) c.dependsOn.push(source.file);

  if (source.syntaxIssues && source.syntaxIssues.length > 0) {
    const issues = source.syntaxIssues.map((s): ConfigIssue => ({
      ...(source.file !== undefined ? { file: source.file } : {}),
      ...(s.position ? { line: s.position.line, column: s.position.column } : {}),
      path: '',
      message: s.message,
    }));
    throw new ConfigError(issues);
  }

  let top: Read<Mapping>;
  if (value !== undefined && value !== null && !isMapping(value)) {
    c.error([], `the document must be a mapping of keys (${TOP_KEYS.join(', ')}), got ${kind(value)}`);
    top = INVALID;
  } else {
    top = c.mapping(value, [], TOP_KEYS);
  }
  const doc: Mapping = top && top !== INVALID ? top : {};

  const tls = await checkTls(c, doc.tls_server_config);
  const http = checkHttp(c, doc.http_server_config);
  const users = checkUsers(c, doc.basic_auth_users);
  const rateLimit = checkRateLimit(c, doc.rate_limit, ['rate_limit']);
  const limits = checkLimits(c, doc.limits);
  const bearerAuth = await checkBearerAuth(c, doc.bearer_auth);
  const jwtAuth = await checkJwtAuth(c, doc.jwt_auth);
  const headerAuth = await checkHeaderAuth(c, doc.header_auth);
  const clientCertAuth = checkClientCertAuth(c, doc.client_cert_auth, tls === INVALID ? INVALID : tls.tls?.clientAuth);
  const excluded = checkAuthExcludedPaths(c, doc.auth_excluded_paths);
  const accessRules = checkAccessRules(c, doc.access_rules);
  const auditLog = await checkAuditLog(c, doc.audit_log);
  const allowedNetworks = checkAllowedNetworks(c, doc.allowed_networks);
  const sections = [bearerAuth, jwtAuth, headerAuth, clientCertAuth, excluded, accessRules, auditLog, allowedNetworks];
  const redaction = await checkRedaction(c, doc.redaction);

  if (tls !== INVALID && tls.on && http !== INVALID && http.http2 && tls.ciphers && tls.ciphers.length > 0 && tls.minVersion) {
    if (tls.minVersion !== 'TLS13' && !tls.ciphers.some((n) => HTTP2_REQUIRED.includes(n))) {
      c.error(
        ['tls_server_config', 'cipher_suites'],
        `HTTP/2 needs ${HTTP2_REQUIRED.join(' or ')} in cipher_suites (RFC 7540 §9.2.2); add one, or set http_server_config.http2: false`,
      );
    }
  }
  if (tls !== INVALID && !tls.on && users !== INVALID && users.size > 0) {
    c.warn('basic_auth_users is set but TLS is off: passwords cross the network in clear text; configure tls_server_config');
  }
  if (tls !== INVALID && !tls.on && ((bearerAuth && bearerAuth !== INVALID) || (jwtAuth && jwtAuth !== INVALID))) {
    c.warn('bearer_auth/jwt_auth is set but TLS is off: bearer tokens cross the network in clear text and can be replayed; configure tls_server_config');
  }
  if (tls !== INVALID && !tls.on && headerAuth && headerAuth !== INVALID) {
    c.warn('header_auth is set but TLS is off: API keys cross the network in clear text and can be replayed; configure tls_server_config');
  }
  const anyAuth =
    (users !== INVALID && users.size > 0) || bearerAuth !== undefined || jwtAuth !== undefined || headerAuth !== undefined || clientCertAuth !== undefined;
  if (accessRules && accessRules !== INVALID && !anyAuth) {
    c.warn('access_rules is set but no authentication method is: every caller is the principal "anonymous" (method none)');
  }

  if (
    c.issues.length > 0 ||
    top === INVALID ||
    tls === INVALID ||
    http === INVALID ||
    users === INVALID ||
    rateLimit === INVALID ||
    limits === INVALID ||
    sections.includes(INVALID) ||
    redaction === INVALID
  ) {
    const issues = c.issues.length > 0 ? c.issues : [{ path: '', message: 'invalid configuration' }];
    throw new ConfigError(source.file !== undefined ? [...issues].sort(byPosition) : issues);
  }
  if (tls.on && !tls.tls) throw new ConfigError([{ path: 'tls_server_config', message: 'invalid TLS configuration' }]);

  return {
    ...(source.file !== undefined ? { file: source.file } : {}),
    dependsOn: c.dependsOn,
    ...(tls.tls ? { tls: tls.tls } : {}),
    http,
    basicAuthUsers: users,
    ...(rateLimit ? { rateLimit } : {}),
    limits,
    ...(bearerAuth && bearerAuth !== INVALID ? { bearerAuth } : {}),
    ...(jwtAuth && jwtAuth !== INVALID ? { jwtAuth } : {}),
    ...(headerAuth && headerAuth !== INVALID ? { headerAuth } : {}),
    ...(clientCertAuth && clientCertAuth !== INVALID ? { clientCertAuth } : {}),
    ...(excluded && excluded !== INVALID && excluded.length > 0 ? { authExcludedPaths: excluded } : {}),
    ...(accessRules && accessRules !== INVALID ? { accessRules } : {}),
    ...(auditLog && auditLog !== INVALID ? { auditLog } : {}),
    ...(allowedNetworks && allowedNetworks !== INVALID ? { allowedNetworks } : {}),
    redaction,
    warnings: c.warnings,
  };
}
