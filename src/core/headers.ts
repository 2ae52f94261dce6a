/**
 * Reading request headers from the neutral {@link ScrapeRequest}, where Node gives a string for most
 * headers and an array for the few it does not join. Two readings, named for what they do: the
 * credential-bearing headers take the first value only (a second `Authorization` must not be
 * glued to the first), the informational ones are joined as RFC 9110 §5.3 allows.
 */
import type { ScrapeRequest } from './request.js';

/** The first value of header `name` (lower-case), or undefined. */
export function firstHeader(headers: ScrapeRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Every value of header `name` (lower-case) joined with `, `, or undefined. */
export function joinedHeader(headers: ScrapeRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
