/**
 * Validator of `limits.auth_failure_backoff`: brute-force protection. After `threshold` failed
 * authentications from one client, further requests from it get `429` + `Retry-After` for
 * `base_delay`, doubling with each further failure up to `max_delay`. Off unless the section is
 * present (exporter-toolkit has no lockout, and its files must behave the same here); `{}` turns it
 * on with the defaults below.
 */
import type { ResolvedAuthFailureBackoff } from './schema.js';
import { Checker, fmtMs, INVALID, quote, type Read } from './checker.js';
import type { KeyPath } from './locate.js';

const KEYS = ['threshold', 'base_delay', 'max_delay', 'forget_after', 'max_clients'] as const;

/** Defaults: generous enough that a misconfigured scraper is not locked out for long. */
export const DEFAULT_AUTH_FAILURE_BACKOFF: ResolvedAuthFailureBackoff = Object.freeze({
  threshold: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 300_000,
  forgetAfterMs: 900_000,
  maxClients: 10_000,
});

/** Validates the section; undefined means "off" (`threshold: 0`). */
export function checkAuthFailureBackoff(c: Checker, raw: unknown, P: KeyPath): Read<ResolvedAuthFailureBackoff> {
  const m = c.mapping(raw, P, KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return { ...DEFAULT_AUTH_FAILURE_BACKOFF }; // `auth_failure_backoff:` with no value
  const before = c.issues.length;
  const threshold = c.int(m.threshold, [...P, 'threshold'], 0);
  const maxClients = c.int(m.max_clients, [...P, 'max_clients'], 100);
  const d = (key: string, fallback: number): number => {
    const v = c.duration(m[key], [...P, key]);
    if (v === INVALID) return -1;
    if (v === undefined) return fallback;
    if (v.ms < 1 || v.ms > 86_400_000) {
      c.error([...P, key], `must be from 1ms to 24h, got ${quote(v.text)}`);
      return -1;
    }
    return Math.ceil(v.ms);
  };
  const base = d('base_delay', DEFAULT_AUTH_FAILURE_BACKOFF.baseDelayMs);
  const max = d('max_delay', DEFAULT_AUTH_FAILURE_BACKOFF.maxDelayMs);
  const forget = d('forget_after', DEFAULT_AUTH_FAILURE_BACKOFF.forgetAfterMs);
  if (base > 0 && max > 0 && base > max) c.error([...P, 'base_delay'], `must not exceed max_delay (${fmtMs(max)})`);
  if (max > 0 && forget > 0 && forget < max)
    c.error([...P, 'forget_after'], `must be at least max_delay (${fmtMs(max)}), or a held-off client would be forgotten while still held off`);
  if (c.issues.length > before || threshold === INVALID || maxClients === INVALID) return INVALID;
  if (threshold === 0) return undefined;
  return {
    threshold: threshold ?? DEFAULT_AUTH_FAILURE_BACKOFF.threshold,
    baseDelayMs: base,
    maxDelayMs: max,
    forgetAfterMs: forget,
    maxClients: maxClients ?? DEFAULT_AUTH_FAILURE_BACKOFF.maxClients,
  };
}
