/**
 * `tls_server_config`: exporter-toolkit's TLS section, checked key by key — certificate and key
 * (file or inline, matching, not expired), client CA and client_auth_type, versions, cipher suites
 * and curves by their Go names, client_allowed_sans — and resolved into node TLS options.
 */
import { stat } from 'node:fs/promises';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { tlsServerOptions } from '../tls/server-options.js';
import { CURVES, INSECURE_CIPHERS, isKnownCipher, SECURE_TLS12_CIPHERS, TLS_VERSION_RANK } from '../tls/names.js';
import { certificateFacts, checkCaBundle, parseCertificateChain, parsePrivateKey } from './certs.js';
import { Checker, INVALID, isSet, isText, quote, readMaterial, type Read } from './checker.js';
import type { KeyPath } from './locate.js';
import type { ClientAuthType, ResolvedTls, TlsVersionName } from './schema.js';

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
const CLIENT_AUTH: Readonly<Record<string, ClientAuthType>> = {
  NoClientCert: 'NoClientCert',
  RequestClientCert: 'RequestClientCert',
  RequireAnyClientCert: 'RequireAnyClientCert',
  RequireClientCert: 'RequireAnyClientCert', // exporter-toolkit's backwards-compatible alias
  VerifyClientCertIfGiven: 'VerifyClientCertIfGiven',
  RequireAndVerifyClientCert: 'RequireAndVerifyClientCert',
};
const VERIFYING: ReadonlySet<ClientAuthType> = new Set(['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']);
// Required by HTTP/2 on TLS 1.2 (RFC 7540 §9.2.2); Go's http2.ConfigureServer refuses a suite list without one.
export const HTTP2_REQUIRED = ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'];
export interface TlsOutcome {
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
export async function checkTls(c: Checker, raw: unknown): Promise<TlsOutcome | typeof INVALID> {
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
