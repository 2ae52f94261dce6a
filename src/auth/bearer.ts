/**
 * Static bearer tokens (`bearer_auth`, RFC 6750). The guard holds only SHA-256 digests: the
 * presented token is hashed once and compared with every configured digest using
 * `crypto.timingSafeEqual` over equal-length buffers, without stopping at the first match, so the
 * time taken does not depend on which digest (if any) matched or how much of it did. A matched
 * token is then checked against the revocation set and its expiry.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ResolvedBearerAuth } from '../config/schema.js';
import type { Principal } from './principal.js';

/** Outcome of checking one bearer token. */
export type BearerResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: 'invalid_token' | 'expired' | 'revoked'; readonly name?: string };

interface Entry {
  readonly digest: Buffer;
  readonly principal: Principal;
  readonly expiresAt: number | undefined;
  readonly revoked: boolean;
}

/** Verifies bearer tokens against one generation of `bearer_auth`. */
export class BearerAuthenticator {
  private readonly entries: readonly Entry[];
  /** Revoked digests that belong to no configured token: still refused if presented. */
  private readonly revoked: readonly Buffer[];

  /**
   * @param method the method its principals carry: `header` when the same digests back `header_auth`.
   * @example
   * const bearer = new BearerAuthenticator(config.bearerAuth);
   * bearer.verify(token, Date.now());
   */
  constructor(config: ResolvedBearerAuth, method: 'bearer' | 'header' = 'bearer') {
    const revoked = new Set(config.revoked);
    this.entries = config.tokens.map((t) => ({
      digest: Buffer.from(t.sha256, 'hex'),
      principal: Object.freeze({ name: t.name, method, groups: Object.freeze([...t.groups]) }),
      expiresAt: t.expiresAt,
      revoked: revoked.has(t.sha256),
    }));
    this.revoked = config.revoked.map((d) => Buffer.from(d, 'hex'));
  }

  /** Number of configured tokens. */
  get tokenCount(): number {
    return this.entries.length;
  }

  /** Checks a presented token. Never throws; the token is not kept. */
  verify(token: string, now: number): BearerResult {
    const presented = createHash('sha256').update(token, 'utf8').digest();
    let match: Entry | undefined;
    // Visit every entry: no early exit, so timing does not tell how far the search went.
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presented) && match === undefined) match = entry;
    }
    if (!match) {
      let revoked = false;
      for (const d of this.revoked) if (timingSafeEqual(d, presented)) revoked = true;
      return { ok: false, reason: revoked ? 'revoked' : 'invalid_token' };
    }
    if (match.revoked) return { ok: false, reason: 'revoked', name: match.principal.name };
    if (match.expiresAt !== undefined && now >= match.expiresAt) return { ok: false, reason: 'expired', name: match.principal.name };
    return { ok: true, principal: match.principal };
  }
}

/**
 * Reads `Authorization: Bearer <token>` (RFC 6750 §2.1: scheme case-insensitive, one token68
 * word). Returns undefined for any other scheme or a malformed value.
 */
export function parseBearerAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  // RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  const m = /^bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(header);
  return m?.[1];
}

/** Whether a bearer token has the shape of a JWS compact serialization (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
