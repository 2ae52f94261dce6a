/**
 * Who a request was authenticated as. Every authentication method produces a `Principal`; access
 * rules and the audit log consume it. It never carries a credential.
 */

/** The method that authenticated a caller; `none` when the config asks for no authentication. */
export type AuthMethod = 'basic' | 'bearer' | 'header' | 'jwt' | 'client_cert' | 'none';

/** An authenticated caller. */
export interface Principal {
  /** Stable name: basic-auth user, token or API-key name, JWT subject, certificate identity; `anonymous` for `none`. */
  readonly name: string;
  readonly method: AuthMethod;
  /** Groups from the token entry, JWT claim or certificate; empty when none. */
  readonly groups: readonly string[];
}

/** The principal of a request when no authentication method is configured. */
export const ANONYMOUS: Principal = Object.freeze({ name: 'anonymous', method: 'none', groups: Object.freeze([]) });
