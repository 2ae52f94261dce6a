/**
 * Authentication of one request against every method the config enables: basic (bcrypt), static
 * bearer tokens, JWTs and client-certificate identities. The method is chosen by the credential
 * the request presents, never by trying one after another:
 *
 * - `Authorization: Basic …` → basic auth;
 * - `Authorization: Bearer <JWT-shaped token>` → `jwt_auth` when enabled, else `bearer_auth`;
 *   any other bearer token → `bearer_auth`;
 * - the `header_auth` header (e.g. `X-API-Key`) → `header_auth`; a request that also carries an
 *   `Authorization` header presents two credentials and is refused;
 * - no `Authorization` header, a verified client certificate and `client_cert_auth` → the
 *   certificate's identity.
 *
 * A presented but wrong credential always fails: there is no fall-through to another method. A
 * missing credential gets `401` with one challenge per enabled scheme, joined into one
 * `WWW-Authenticate` value as RFC 7235 §4.1 allows (`Basic realm="metrics", Bearer realm="metrics"`);
 * one header keeps the neutral response a plain string map that every adapter writes as is.
 */
import type { Logger } from '../log.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { AuthFailureReason } from './failure.js';
import type { ScrapeRequest } from '../core/request.js';
import { firstHeader } from '../core/headers.js';
import { parseBasicAuthorization, type BasicAuthenticator } from './basic.js';
import { looksLikeJwt, parseBearerAuthorization, type BearerAuthenticator } from './bearer.js';
import type { ClientCertIdentity } from './identity.js';
import type { HeaderKeyAuthenticator } from './header.js';
import type { JwtAuthenticator } from './jwt.js';
import { ANONYMOUS, type AuthMethod, type Principal } from './principal.js';

/** The compiled authentication methods of one config generation. */
export interface Authenticators {
  readonly basic?: BasicAuthenticator;
  readonly bearer?: BearerAuthenticator;
  readonly header?: HeaderKeyAuthenticator;
  readonly jwt?: JwtAuthenticator;
  readonly clientCert?: ClientCertIdentity;
}

/** A refusal. */
export interface AuthRefusal {
  readonly ok: false;
  readonly status: 401 | 403 | 429 | 503;
  readonly headers: Readonly<Record<string, string>>;
  readonly reason: AuthFailureReason;
  /** The method the presented credential was for, when one was presented. */
  readonly method?: AuthMethod;
  /** The name the credential claimed (basic user, token name, JWT subject), for audit and backoff; never a secret. */
  readonly claimedName?: string;
  /** A wrong credential was presented: counts toward brute-force backoff. */
  readonly guess: boolean;
}

/** Result of authenticating one request. */
export type AuthOutcome = { readonly ok: true; readonly principal: Principal } | AuthRefusal;

/** Fixed parts: realm, logger, metrics. */
export interface AuthContext {
  readonly realm: string;
  readonly logger: Logger;
  readonly metrics: SelfMetrics;
  readonly now?: () => number;
}

/** Failures that mean "a wrong credential was presented" (as opposed to none, or a server-side problem). */
const GUESSES: ReadonlySet<AuthFailureReason> = new Set(['malformed', 'unknown_user', 'wrong_password', 'invalid_token', 'expired', 'revoked', 'unknown_key']);

/** Whether any method is enabled (otherwise every caller is {@link ANONYMOUS}). */
export function authenticationEnabled(methods: Authenticators): boolean {
  return (
    methods.basic !== undefined || methods.bearer !== undefined || methods.header !== undefined || methods.jwt !== undefined || methods.clientCert !== undefined
  );
}

/** Authenticates `request` with the method its credential selects. */
export async function authenticate(request: ScrapeRequest, methods: Authenticators, context: AuthContext): Promise<AuthOutcome> {
  if (!authenticationEnabled(methods)) return { ok: true, principal: ANONYMOUS };
  const { realm, logger, metrics } = context;
  const basicChallenge = `Basic realm="${realm}"`;
  const bearerChallenge = `Bearer realm="${realm}"`;
  // No registered scheme names a key in a custom header; `ApiKey` tells a person what is wanted
  // without naming the header (it is in the scrape config, not for strangers).
  const apiKeyChallenge = `ApiKey realm="${realm}"`;
  // Built only on the refusal paths: a successful scrape allocates nothing for it.
  const challenges = (): string =>
    [methods.basic ? basicChallenge : '', methods.bearer || methods.jwt ? bearerChallenge : '', methods.header ? apiKeyChallenge : '']
      .filter((x) => x !== '')
      .join(', ');

  const refuse = (
    status: AuthRefusal['status'],
    reason: AuthFailureReason,
    headers: Record<string, string>,
    extra: { method?: AuthMethod; claimedName?: string; detail?: string } = {},
  ): AuthRefusal => {
    metrics.authFailure(reason);
    // Never the credential: the reason, the method and at most the (non-secret) name it claimed.
    logger.debug('authentication failed', {
      remote: request.remoteAddress,
      reason,
      ...(extra.method ? { method: extra.method } : {}),
      ...(extra.claimedName !== undefined ? { name: extra.claimedName } : {}),
      ...(extra.detail ? { detail: extra.detail } : {}),
    });
    return {
      ok: false,
      status,
      headers,
      reason,
      ...(extra.method ? { method: extra.method } : {}),
      ...(extra.claimedName !== undefined ? { claimedName: extra.claimedName } : {}),
      guess: GUESSES.has(reason),
    };
  };
  const missing = (reason: AuthFailureReason): AuthRefusal => {
    const all = challenges();
    // Only client certificates are accepted: there is no HTTP scheme to challenge with.
    return all === '' ? refuse(403, reason, {}) : refuse(401, reason, { 'www-authenticate': all });
  };

  const header = firstHeader(request.headers, 'authorization');
  if (methods.header) {
    const presented = methods.header.presented(request);
    if (presented.kind !== 'absent') {
      if (presented.kind === 'malformed') {
        if (presented.repeated !== undefined) {
          logger.warn(
            'the API key header arrived several times with the same value; refused. Prometheus builds whose prometheus/common has the cloneRequest bug (prometheus/common#981, e.g. Debian prometheus 3.5.3+ds1-6) add one more copy per scrape: use bearer_auth with such a build',
            {
              remote: request.remoteAddress,
              copies: presented.repeated,
            },
          );
        }
        return refuse(401, 'malformed', { 'www-authenticate': apiKeyChallenge }, { method: 'header' });
      }
      // Two credentials: which one counts would be a guess, and a guess is a fall-through.
      if (header !== undefined && header !== '') {
        return refuse(
          401,
          'malformed',
          { 'www-authenticate': challenges() },
          { method: 'header', detail: 'both an API key header and Authorization were sent' },
        );
      }
      const result = methods.header.verify(presented.key, (context.now ?? Date.now)());
      if (result.ok) return result;
      return refuse(
        401,
        result.reason,
        { 'www-authenticate': apiKeyChallenge },
        { method: 'header', ...(result.name !== undefined ? { claimedName: result.name } : {}) },
      );
    }
  }
  if (header === undefined || header === '') {
    const cert = request.tls?.clientCertificate;
    if (methods.clientCert && cert && request.tls?.clientCertificateVerified) {
      const id = methods.clientCert.identify(cert);
      if (id.ok) return id;
      logger.warn('verified client certificate carries no usable identity', { remote: request.remoteAddress, subject: cert.subject });
      return refuse(403, 'no_identity', {}, { method: 'client_cert' });
    }
    return missing('missing');
  }

  const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:[ \t]|$)/.exec(header)?.[1]?.toLowerCase();
  if (scheme === 'basic' && methods.basic) {
    const credentials = parseBasicAuthorization(header);
    if (!credentials) return refuse(401, 'malformed', { 'www-authenticate': basicChallenge }, { method: 'basic' });
    // The client's address (already resolved through trusted proxies): bcrypt is queued fairly by it.
    const result = await methods.basic.verify(credentials.user, credentials.password, request.remoteAddress);
    if (result === 'busy') {
      logger.warn('authentication queue full; refusing request', { remote: request.remoteAddress });
      return refuse(429, 'busy', { 'retry-after': '1' }, { method: 'basic' });
    }
    if (result === 'ok') return { ok: true, principal: { name: credentials.user, method: 'basic', groups: [] } };
    // Same answer for an unknown user and a wrong password. Only a configured user name is
    // recorded: an unknown "user name" is attacker-chosen text and, often enough, a password typed
    // into the wrong field.
    return refuse(
      401,
      result,
      { 'www-authenticate': basicChallenge },
      { method: 'basic', ...(result === 'wrong_password' ? { claimedName: credentials.user } : {}) },
    );
  }

  if (scheme === 'bearer' && (methods.bearer || methods.jwt)) {
    const invalid = `${bearerChallenge}, error="invalid_token"`;
    const token = parseBearerAuthorization(header);
    if (token === undefined) return refuse(401, 'malformed', { 'www-authenticate': `${bearerChallenge}, error="invalid_request"` });
    if (methods.jwt && (looksLikeJwt(token) || !methods.bearer)) {
      const result = await methods.jwt.verify(token);
      if (result.ok) return result;
      const claimed = result.name !== undefined ? { claimedName: result.name } : {};
      if (result.reason === 'insufficient_scope') {
        // RFC 6750 §3.1: a valid token lacking the scope is 403, with the scope needed.
        return refuse(
          403,
          'insufficient_scope',
          { 'www-authenticate': `${bearerChallenge}, error="insufficient_scope", scope="${methods.jwt.requiredScope}"` },
          { method: 'jwt', detail: result.detail, ...claimed },
        );
      }
      if (result.reason === 'jwks_unavailable') {
        // Fail closed, but say it is our side: the caller's token may be fine.
        logger.warn('cannot fetch the JWK Set; refusing JWTs until it is reachable', { detail: result.detail });
        return refuse(503, 'jwks_unavailable', { 'retry-after': '5' }, { method: 'jwt', detail: result.detail });
      }
      return refuse(401, result.reason, { 'www-authenticate': invalid }, { method: 'jwt', detail: result.detail });
    }
    const result = methods.bearer!.verify(token, (context.now ?? Date.now)());
    if (result.ok) return result;
    return refuse(
      401,
      result.reason,
      { 'www-authenticate': invalid },
      { method: 'bearer', ...(result.name !== undefined ? { claimedName: result.name } : {}) },
    );
  }

  // A scheme no enabled method takes (or garbage): refused, never passed on to another method.
  return refuse(401, 'malformed', { 'www-authenticate': challenges() || basicChallenge });
}
