/**
 * One vocabulary for refused TLS clients, shared by the log line, the self-metric
 * `scrapeguard_tls_handshake_errors_total{reason}` and the documentation, so that a log aggregator
 * can group refusals by a stable message and reason.
 *
 * Every client certificate policy, RequireAndVerifyClientCert included, is decided by
 * scrapeguard right after the handshake (`verdictForSocket`), with the peer address and the
 * certificate at hand: Node's own rejection (`rejectUnauthorized`) happens at the same moment
 * (Node's OpenSSL verify callback accepts every certificate, by design), sends no alert either,
 * and releases the socket before the server can read the address or the certificate. After the
 * handshake Node has no API to send a TLS alert, so the client sees the connection close
 * (docs/tls.md). `refusalFromHandshakeError` still maps Node's own refusals, should a server
 * be configured with `rejectUnauthorized`.
 */
import type { LogFields } from '../log.js';
import { allSanValues, type ClientCertificateInfo } from './client-cert.js';

/** The stable log message of a refused client certificate (logged at `warn`). */
export const CLIENT_CERT_REFUSED_MESSAGE = 'TLS client certificate refused';

/** Why a client certificate was refused. */
export type ClientCertRefusalReason = 'expired' | 'not_yet_valid' | 'unknown_ca' | 'san_not_allowed' | 'no_certificate' | 'bad_certificate';

/** Every reason a client certificate can be refused for, in documentation order. */
export const CLIENT_CERT_REFUSAL_REASONS: readonly ClientCertRefusalReason[] = [
  'expired',
  'not_yet_valid',
  'unknown_ca',
  'san_not_allowed',
  'no_certificate',
  'bad_certificate',
];

/** OpenSSL verification results (Node's `authorizationError` codes) that mean "not from a trusted CA". */
const UNKNOWN_CA_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** Maps an OpenSSL verification error code (`socket.authorizationError`) onto the vocabulary. */
export function reasonForVerifyError(code: string | undefined): ClientCertRefusalReason {
  if (code === 'CERT_HAS_EXPIRED') return 'expired';
  if (code === 'CERT_NOT_YET_VALID') return 'not_yet_valid';
  if (code !== undefined && UNKNOWN_CA_CODES.has(code)) return 'unknown_ca';
  return 'bad_certificate';
}

/**
 * The reason of a failed handshake as reported by `tlsClientError`, when it is a client
 * certificate refusal; `undefined` for other handshake failures (garbage, protocol versions,
 * no shared cipher), which are not about the client's identity.
 */
export function refusalFromHandshakeError(code: string | undefined, authorizationError: unknown): ClientCertRefusalReason | undefined {
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'no_certificate';
  // Node sets tlsSocket.authorizationError to OpenSSL's code string (its types say Error); anything
  // else names no known code and counts as a bad certificate.
  if (authorizationError !== undefined && authorizationError !== null) {
    return reasonForVerifyError(typeof authorizationError === 'string' ? authorizationError : undefined);
  }
  return undefined;
}

/**
 * A self-metric label for any other handshake failure: Node's error code, lower-cased without its
 * `ERR_SSL_` / `ERR_` prefix, and bounded in length (the label set stays small: the codes are
 * OpenSSL's fixed reasons, never text from the client).
 */
export function handshakeErrorLabel(code: string | undefined): string {
  if (!code) return 'handshake_failed';
  const label = code.replace(/^ERR_(SSL_)?/, '').toLowerCase();
  return /^[a-z0-9_]{1,64}$/.test(label) ? label : 'handshake_failed';
}

/** Log fields of a refusal: never a secret (no PEM, no key), only public certificate facts. */
export function refusalLogFields(remote: string, reason: ClientCertRefusalReason, client?: ClientCertificateInfo, detail?: string): LogFields {
  return {
    remote,
    reason,
    ...(client
      ? {
          subject: client.subject,
          sans: allSanValues(client.sans).join(' '),
          ...(client.serialNumber !== undefined ? { serial: client.serialNumber } : {}),
          issuer: client.issuer,
        }
      : {}),
    ...(detail !== undefined ? { detail } : {}),
  };
}
