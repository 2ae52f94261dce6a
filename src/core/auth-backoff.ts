/**
 * Brute-force protection (`limits.auth_failure_backoff`): failed authentications are counted per
 * client address. Once a client reaches `threshold` failures, it is held off: every request from it
 * is answered `429` + `Retry-After` before any credential is checked (so no bcrypt or JWT work is
 * spent on it) for `base_delay`, doubling with each failure after that up to `max_delay`. A success
 * clears the client's record; a client with no failure for `forget_after` is forgotten. Memory is
 * bounded by `max_clients`.
 *
 * Keyed by address only, on purpose: a per-user-name lock would let anyone lock the real scraper
 * out by guessing against its user name from elsewhere.
 */
import type { ResolvedAuthFailureBackoff } from '../config/schema.js';

interface Record_ {
  failures: number;
  /** Unix ms until which the client is held off (0: not held off). */
  blockedUntil: number;
  lastFailure: number;
}

/** `ok`, or how long the client is still held off. */
export type BackoffCheck = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * Failure counters keyed by client. Time is passed in, as with the token buckets.
 * @example
 * const backoff = new AuthFailureBackoff({ threshold: 5, baseDelayMs: 1000, maxDelayMs: 300_000, forgetAfterMs: 900_000, maxClients: 10_000 });
 * if (!backoff.check(address, Date.now()).ok) answer429();
 */
export class AuthFailureBackoff {
  private readonly clients = new Map<string, Record_>();

  constructor(readonly settings: ResolvedAuthFailureBackoff) {}

  /** Whether `key` may try now. */
  check(key: string, now: number): BackoffCheck {
    const r = this.clients.get(key);
    if (!r) return { ok: true };
    if (now - r.lastFailure >= this.settings.forgetAfterMs) {
      this.clients.delete(key);
      return { ok: true };
    }
    return r.blockedUntil > now ? { ok: false, retryAfterMs: r.blockedUntil - now } : { ok: true };
  }

  /** Records a failed attempt; returns the hold-off now in force (0 when under the threshold). */
  fail(key: string, now: number): number {
    let r = this.clients.get(key);
    if (r && now - r.lastFailure >= this.settings.forgetAfterMs) r = undefined;
    if (!r) {
      if (this.clients.size >= this.settings.maxClients) this.prune(now);
      r = { failures: 0, blockedUntil: 0, lastFailure: now };
    }
    // Re-insert so Map order is "least recently failed first", for pruning.
    this.clients.delete(key);
    this.clients.set(key, r);
    r.failures++;
    r.lastFailure = now;
    const over = r.failures - this.settings.threshold;
    if (over < 0) return 0;
    const delay = Math.min(this.settings.maxDelayMs, this.settings.baseDelayMs * 2 ** Math.min(over, 40));
    r.blockedUntil = now + delay;
    return delay;
  }

  /** A successful authentication clears the client's record. */
  succeed(key: string): void {
    this.clients.delete(key);
  }

  private prune(now: number): void {
    for (const [key, r] of this.clients) if (now - r.lastFailure >= this.settings.forgetAfterMs) this.clients.delete(key);
    // Still full: forget the tenth that failed longest ago rather than grow without bound.
    let excess = this.clients.size - Math.floor(this.settings.maxClients * 0.9);
    for (const key of this.clients.keys()) {
      if (excess-- <= 0) break;
      this.clients.delete(key);
    }
  }

  /** Clients currently remembered. */
  get size(): number {
    return this.clients.size;
  }
}
