/**
 * API keys in a named request header (`header_auth`). The keys are checked exactly as static
 * bearer tokens are (`bearer.ts`: SHA-256 digests compared with `timingSafeEqual` over every
 * entry, then revocation and expiry); only where the key comes from differs. Principals carry the
 * method `header`, so access rules can tell a key holder from a bearer-token holder of the same name.
 */
import type { ResolvedHeaderAuth } from '../config/schema.js';
import { BearerAuthenticator, type BearerResult } from './bearer.js';
import type { ScrapeRequest } from '../core/request.js';

/** Outcome of reading the key header of one request. */
export type PresentedKey =
  | { readonly kind: 'absent' }
  /** `repeated`: the same value arrived this many times (see {@link HeaderKeyAuthenticator.presented}). */
  | { readonly kind: 'malformed'; readonly repeated?: number }
  | { readonly kind: 'key'; readonly key: string };

/** Verifies API keys against one generation of `header_auth`. */
export class HeaderKeyAuthenticator {
  /** The header, lower-case (as Node and every adapter present header names). */
  readonly header: string;
  private readonly keys: BearerAuthenticator;

  /**
   * @example
   * const header = new HeaderKeyAuthenticator(config.headerAuth);
   * header.verify(header.presented(request), Date.now());
   */
  constructor(config: ResolvedHeaderAuth) {
    this.header = config.header;
    this.keys = new BearerAuthenticator({ tokens: config.keys, revoked: config.revoked }, 'header');
  }

  /**
   * The key a request presents. A header sent twice (an array, or values Node joined with `, `
   * cannot be told apart from one key containing `, `: a key never holds a space) is malformed.
   */
  presented(request: ScrapeRequest): PresentedKey {
    const raw = request.headers[this.header];
    if (raw === undefined) return { kind: 'absent' };
    const values = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(', ')).map((v) => v.trim());
    if (values.length !== 1) {
      // Still refused: the same key sent N times is what a Prometheus built with prometheus/common's
      // cloneRequest bug (#981) sends, one more copy per scrape, until the header outgrows every
      // limit. Accepting it would only postpone the failure; saying so lets the operator act.
      const first = values[0];
      return values.every((v) => v === first) ? { kind: 'malformed', repeated: values.length } : { kind: 'malformed' };
    }
    const value = values[0]!;
    if (!/^[\x21-\x7e]+$/.test(value)) return { kind: 'malformed' };
    return { kind: 'key', key: value };
  }

  /** Checks a presented key. Never throws; the key is not kept. */
  verify(key: string, now: number): BearerResult {
    return this.keys.verify(key, now);
  }
}
