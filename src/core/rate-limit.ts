/**
 * Token buckets for `rate_limit` (one global bucket, as exporter-toolkit) and
 * `limits.per_client_rate_limit` (one bucket per remote address). A bucket holds up to `burst`
 * tokens and gains one every `intervalMs`; a refused request learns when the next token arrives,
 * which becomes the `Retry-After` header (the toolkit sends none).
 */
import type { RateLimit } from '../config/schema.js';

/** `ok`, or how long until a token is available. */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

/** One token bucket. Time is passed in so tests and callers share one clock reading. */
export class TokenBucket {
  private tokens: number;
  private updated: number;

  constructor(
    private readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.updated = now;
  }

  private refill(now: number): void {
    if (now > this.updated) {
      this.tokens = Math.min(this.limit.burst, this.tokens + (now - this.updated) / this.limit.intervalMs);
      this.updated = now;
    }
  }

  /** Takes one token if there is one. */
  take(now: number): TakeResult {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - this.tokens) * this.limit.intervalMs) };
  }

  /** Whether the bucket is full (a client that has been quiet long enough to forget). */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst;
  }
}

/**
 * Buckets keyed by client. Memory is bounded: at `maxClients` entries, full buckets (clients
 * that are within their allowance anyway) are dropped first, then the oldest entries.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly maxClients = 10_000,
  ) {}

  take(key: string, now: number): TakeResult {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxClients) this.prune(now);
      bucket = new TokenBucket(this.limit, now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
    // Still full of active clients: forget the oldest tenth rather than grow without bound.
    let excess = this.buckets.size - Math.floor(this.maxClients * 0.9);
    for (const key of this.buckets.keys()) {
      if (excess-- <= 0) break;
      this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** `Retry-After` value in whole seconds (at least 1). */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
