/**
 * Authentication of one request against every method the config enables. Returns the caller's
 * {@link Principal} or the refusal to send. The foundation knows basic auth only; bearer tokens,
 * JWTs and client-certificate identities plug in here.
 */
import type { Logger } from '../log.js';
import type { AuthFailureReason, SelfMetrics } from '../metrics/self.js';
import type { ScrapeRequest } from '../core/request.js';
import { parseBasicAuthorization, type BasicAuthenticator } from './basic.js';
import { ANONYMOUS, type Principal } from './principal.js';

/** The compiled authentication methods of one config generation. */
export interface Authenticators {
  readonly basic?: BasicAuthenticator;
}

/** Result of authenticating one request. */
export type AuthOutcome =
  | { readonly ok: true; readonly principal: Principal }
  | {
      readonly ok: false;
      readonly status: 401 | 429;
      readonly headers: Readonly<Record<string, string>>;
      readonly reason: AuthFailureReason;
    };

/** Fixed parts: realm, logger, metrics. */
export interface AuthContext {
  readonly realm: string;
  readonly logger: Logger;
  readonly metrics: SelfMetrics;
}

function headerValue(headers: ScrapeRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Authenticates `request` with whichever configured method applies. */
export async function authenticate(request: ScrapeRequest, methods: Authenticators, context: AuthContext): Promise<AuthOutcome> {
  const basic = methods.basic;
  if (!basic || basic.userCount === 0) return { ok: true, principal: ANONYMOUS };

  const header = headerValue(request.headers, 'authorization');
  const credentials = parseBasicAuthorization(header);
  let failure: AuthFailureReason | undefined;
  if (!credentials) failure = header ? 'malformed' : 'missing';
  else {
    const result = await basic.verify(credentials.user, credentials.password);
    if (result === 'busy') {
      context.metrics.authFailure('busy');
      context.logger.warn('authentication queue full; refusing request', { remote: request.remoteAddress });
      return { ok: false, status: 429, headers: { 'retry-after': '1' }, reason: 'busy' };
    }
    if (result === 'ok') return { ok: true, principal: { name: credentials.user, method: 'basic', groups: [] } };
    failure = result;
  }
  context.metrics.authFailure(failure);
  // Same answer for every failure: nothing tells an unknown user from a wrong password.
  context.logger.debug('authentication failed', { remote: request.remoteAddress, reason: failure });
  return { ok: false, status: 401, headers: { 'www-authenticate': `Basic realm="${context.realm}"` }, reason: failure };
}
