/**
 * Maps a validated `tls_server_config` onto Node's TLS server options with the same meaning as
 * Go's `crypto/tls`. Policies Node cannot express as options (RequireAnyClientCert,
 * VerifyClientCertIfGiven, client_allowed_sans) are enforced per connection by
 * {@link clientCertificateVerdict}, right after the handshake and before any request is read.
 */
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { ResolvedTls } from '../config/schema.js';
import { CURVES, SECURE_TLS12_CIPHERS, TLS_VERSIONS } from './names.js';
import { compileAllowedSans, describeClientCertificate, allSanValues, type ClientCertificateInfo } from './client-cert.js';

// Go always enables all three TLS 1.3 suites; Node disables TLS 1.3 when a `ciphers` string
// names none, so they are always appended.
const TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** Node TLS server options for a resolved config. */
export function tlsServerOptions(tls: ResolvedTls): TlsOptions {
  const requestCert = tls.clientAuth !== 'NoClientCert';
  const legacy = tls.minVersion === 'TLS10' || tls.minVersion === 'TLS11';
  let ciphers: string | undefined;
  if (tls.cipherSuites.length > 0) {
    const tls12 = tls.cipherSuites.map((name) => SECURE_TLS12_CIPHERS[name]).filter((c): c is string => c !== undefined);
    ciphers = [...tls12, TLS13_SUITES].join(':');
  }
  // OpenSSL 3 refuses TLS 1.0/1.1 at the default security level; an explicit min_version of
  // TLS10/TLS11 is the operator asking for them, as it is in Go.
  if (legacy) ciphers = `${ciphers ?? 'DEFAULT'}:@SECLEVEL=0`;
  const options: TlsOptions = {
    cert: tls.certPem,
    key: tls.keyPem,
    minVersion: TLS_VERSIONS[tls.minVersion],
    maxVersion: TLS_VERSIONS[tls.maxVersion],
    honorCipherOrder: tls.preferServerCipherSuites,
    requestCert,
    // Only RequireAndVerifyClientCert fails the handshake inside OpenSSL; the other policies
    // need to see unverified certificates and are decided in clientCertificateVerdict.
    rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
  };
  if (ciphers !== undefined) options.ciphers = ciphers;
  if (tls.curvePreferences.length > 0) options.ecdhCurve = tls.curvePreferences.map((c) => CURVES[c]).join(':');
  if (requestCert && tls.clientCaPem !== undefined) options.ca = tls.clientCaPem;
  return options;
}

/** Outcome of the client certificate policy for one connection or request. */
export type ClientCertificateVerdict =
  | { ok: true; client?: ClientCertificateInfo; verified: boolean }
  | { ok: false; reason: 'no_client_cert' | 'untrusted_client_cert' | 'san_not_allowed'; detail: string; client?: ClientCertificateInfo };

/** The policy of one config, compiled once: decides from a certificate's facts. */
export type ClientCertificatePolicy = (
  client: ClientCertificateInfo | undefined,
  verified: boolean,
  authorizationError?: string,
) => ClientCertificateVerdict;

/**
 * Compiles the client certificate policy of a config (client_auth_type + client_allowed_sans)
 * with Go's meaning. Used per handshake by the server and again per request by the core, so a
 * request that reaches the core through any adapter is held to the same rules.
 */
export function compileClientCertificatePolicy(tls: ResolvedTls): ClientCertificatePolicy {
  const sansAllowed = tls.clientAllowedSans ? compileAllowedSans(tls.clientAllowedSans) : undefined;
  const policy = tls.clientAuth;
  const requireCert = policy === 'RequireAnyClientCert' || policy === 'RequireAndVerifyClientCert';
  const mustVerify = policy === 'VerifyClientCertIfGiven' || policy === 'RequireAndVerifyClientCert';
  return (client, verified, authorizationError) => {
    if (policy === 'NoClientCert') return { ok: true, verified: false };
    if (!client) {
      // A SAN allow-list cannot be satisfied without a certificate: fail closed.
      if (requireCert || sansAllowed) return { ok: false, reason: 'no_client_cert', detail: 'client sent no certificate' };
      return { ok: true, verified: false };
    }
    if (mustVerify && !verified) {
      const why = authorizationError ?? 'not verified against client_ca';
      return { ok: false, reason: 'untrusted_client_cert', detail: `client certificate rejected: ${why}`, client };
    }
    if (sansAllowed && !sansAllowed(client.sans)) {
      const found = allSanValues(client.sans);
      return {
        ok: false,
        reason: 'san_not_allowed',
        detail: `could not find allowed SANs in client cert, found: [${found.join(' ')}]`,
        client,
      };
    }
    return { ok: true, client, verified };
  };
}

/** Applies a compiled policy to a TLS socket right after its handshake. Reads nothing from disk. */
export function verdictForSocket(policy: ClientCertificatePolicy, socket: TLSSocket): ClientCertificateVerdict {
  const x509 = socket.getPeerX509Certificate();
  const client = x509 ? describeClientCertificate(x509) : undefined;
  const error = socket.authorizationError;
  return policy(client, client !== undefined && socket.authorized, error ? String(error) : undefined);
}
