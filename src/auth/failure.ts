/**
 * The vocabulary of failed authentication: why a credential was refused. The authenticators
 * produce these reasons, the audit log records them and the self-metric
 * `scrapeguard_auth_failures_total{reason}` counts them.
 */

/** Why an authentication attempt failed. */
export type AuthFailureReason =
  | 'missing'
  | 'malformed'
  | 'unknown_user'
  | 'wrong_password'
  | 'busy'
  | 'invalid_token'
  | 'expired'
  | 'revoked'
  | 'unknown_key'
  | 'insufficient_scope'
  | 'jwks_unavailable'
  | 'no_identity';

/** Every {@link AuthFailureReason}, pre-set to 0 so dashboards see the series before the first failure. */
export const AUTH_FAILURE_REASONS: readonly AuthFailureReason[] = [
  'missing',
  'malformed',
  'unknown_user',
  'wrong_password',
  'busy',
  'invalid_token',
  'expired',
  'revoked',
  'unknown_key',
  'insufficient_scope',
  'jwks_unavailable',
  'no_identity',
];
