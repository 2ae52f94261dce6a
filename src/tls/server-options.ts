/**
 * Maps a validated `tls_server_config` onto Node's TLS server options with the same meaning as
 * Go's `crypto/tls`. Policies Node cannot express as options (RequireAnyClientCert,
 * VerifyClientCertIfGiven, client_allowed_sans) are enforced per connection by
 * {@link clientCertificateVerdict}, right after the handshake and before any request is read.
 */
import { constants as cryptoConstants, X509Certificate } from 'node:crypto';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { ResolvedTls } from '../config/schema.js';
import { CURVES, SECURE_TLS12_CIPHERS, TLS_VERSIONS } from './names.js';
import { compileAllowedSans, describeClientCertificate, allSanValues, type ClientCertificateInfo } from './client-cert.js';
import { DEFAULT_TLS_PROFILE, TLS13_SUITES } from './profile.js';
import { reasonForVerifyError, type ClientCertRefusalReason } from './handshake-failure.js';

/**
 * OpenSSL options set on every server context. No renegotiation of any kind (Node otherwise lets
 * a client renegotiate TLS 1.2 three times per connection; Go never does), no TLS compression
 * (CRIME; OpenSSL 3 leaves it off unless built with zlib, this makes it explicit).
 */
export const TLS_SECURE_OPTIONS = cryptoConstants.SSL_OP_NO_RENEGOTIATION | cryptoConstants.SSL_OP_NO_COMPRESSION;

/** Node TLS server options for a resolved config. */
export function tlsServerOptions(tls: ResolvedTls): TlsOptions {
  const requestCert = tls.clientAuth !== 'NoClientCert';
  const legacy = tls.minVersion === 'TLS10' || tls.minVersion === 'TLS11';
  // Go always enables all three TLS 1.3 suites; Node disables TLS 1.3 when a `ciphers` string
  // names none, so they are always appended.
  const tls12 =
    tls.cipherSuites.length > 0
      ? tls.cipherSuites.map((name) => SECURE_TLS12_CIPHERS[name]).filter((c): c is string => c !== undefined)
      : DEFAULT_TLS_PROFILE.tls12CipherSuites.map((s) => s.openssl);
  let ciphers = [...tls12, TLS13_SUITES].join(':');
  // OpenSSL 3 refuses TLS 1.0/1.1 at the default security level; an explicit min_version of
  // TLS10/TLS11 is the operator asking for them, as it is in Go. Without cipher_suites they get
  // OpenSSL's DEFAULT list, as before: the profile's suites do not exist before TLS 1.2.
  if (legacy) ciphers = `${tls.cipherSuites.length > 0 ? ciphers : 'DEFAULT'}:@SECLEVEL=0`;
  const groups = tls.curvePreferences.length > 0 ? tls.curvePreferences.map((c) => CURVES[c]) : DEFAULT_TLS_PROFILE.groups.map((g) => g.openssl);
  const options: TlsOptions = {
    cert: tls.certPem,
    key: tls.keyPem,
    minVersion: TLS_VERSIONS[tls.minVersion],
    maxVersion: TLS_VERSIONS[tls.maxVersion],
    honorCipherOrder: tls.preferServerCipherSuites,
    requestCert,
    // Every policy, RequireAndVerifyClientCert included, is decided by the compiled policy right
    // after the handshake (verdictForSocket), never by Node. Node's own rejection happens at the
    // same moment (its OpenSSL verify callback accepts every certificate, so no TLS alert is sent
    // either way), but it releases the socket before the server can read the peer address or the
    // certificate, and the refusal could not be logged with them. The one case OpenSSL could
    // refuse with an alert, "no certificate", is given up for that (see docs/tls.md).
    rejectUnauthorized: false,
    ciphers,
    ecdhCurve: groups.join(':'),
    secureOptions: TLS_SECURE_OPTIONS,
    sessionTimeout: DEFAULT_TLS_PROFILE.sessionTickets.lifetimeSeconds,
  };
  if (requestCert && tls.clientCaPem !== undefined) options.ca = tls.clientCaPem;
  return options;
}

/** Outcome of the client certificate policy for one connection or request. */
export type ClientCertificateVerdict =
  | { ok: true; client?: ClientCertificateInfo; verified: boolean }
  | { ok: false; reason: ClientCertRefusalReason; detail: string; client?: ClientCertificateInfo };

/** The policy of one config, compiled once: decides from a certificate's facts. */
export type ClientCertificatePolicy = (client: ClientCertificateInfo | undefined, verified: boolean, authorizationError?: string) => ClientCertificateVerdict;

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
      if (requireCert || sansAllowed) return { ok: false, reason: 'no_certificate', detail: 'client sent no certificate' };
      return { ok: true, verified: false };
    }
    if (mustVerify && !verified) {
      const why = authorizationError ?? 'not verified against client_ca';
      return { ok: false, reason: reasonForVerifyError(authorizationError), detail: `client certificate rejected: ${why}`, client };
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

/** Certificates described recently, by SHA-256 fingerprint (bounded; oldest dropped first). */
const described = new Map<string, { readonly der: Buffer; readonly info: ClientCertificateInfo }>();
const DESCRIBED_MAX = 1024;

/**
 * The facts of the certificate a TLS socket's peer presented, or undefined. Read once per
 * connection by the standalone server, at the handshake, and handed to both the policy and the
 * request adapters.
 *
 * Why not `getPeerX509Certificate()`: on a server socket Node copies the certificate through DER
 * (OpenSSL 3 then rebuilds its public-key decoders), which profiled at about a tenth of scrapeguard's
 * own CPU per mTLS handshake. `getPeerCertificate()` reads OpenSSL's parsed certificate in place,
 * and a scraper presents the same certificate on every connection, so the facts are described once
 * per distinct certificate (same DER bytes, compared in full) and reused. They are a pure function
 * of those bytes; whether this connection's chain was verified is read from the socket each time.
 */
export function clientCertificateOf(socket: TLSSocket): ClientCertificateInfo | undefined {
  const peer = socket.getPeerCertificate();
  // Node returns an empty object (or null) when the peer sent no certificate.
  const der = (peer as Partial<typeof peer> | null)?.raw;
  if (!peer || !Buffer.isBuffer(der)) return undefined;
  const key = peer.fingerprint256;
  const hit = described.get(key);
  if (hit && hit.der.equals(der)) return hit.info;
  const info = describeClientCertificate(new X509Certificate(der));
  if (described.size >= DESCRIBED_MAX) described.delete(described.keys().next().value as string);
  described.set(key, { der, info });
  return info;
}

/**
 * Applies a compiled policy to a TLS socket right after its handshake. Reads nothing from disk.
 * @param client the socket's {@link clientCertificateOf} (undefined: it presented none), read by
 *   the caller once for the policy and the requests alike.
 */
export function verdictForSocket(policy: ClientCertificatePolicy, socket: TLSSocket, client: ClientCertificateInfo | undefined): ClientCertificateVerdict {
  const error = socket.authorizationError;
  return policy(client, client !== undefined && socket.authorized, error ? String(error) : undefined);
}
