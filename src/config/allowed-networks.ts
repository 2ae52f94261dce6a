/**
 * Validator of network lists: the top-level `allowed_networks` and an access rule's `networks`.
 * Each entry is a CIDR range or one address, parsed strictly by `net/networks.ts` (host bits past
 * the prefix, zone ids and bad prefixes are errors naming the entry); the result is normalised
 * (`::ffff:10.0.0.0/104` becomes `10.0.0.0/8`) and de-duplicated.
 */
import { parseNetwork } from '../net/networks.js';
import { Checker, INVALID, type Read } from './checker.js';
import type { KeyPath } from './locate.js';

/** Validates a list of networks at `path`; undefined when absent. */
export function checkNetworkList(c: Checker, raw: unknown, path: KeyPath, emptyMessage: string): Read<string[]> {
  const list = c.textList(raw, path);
  if (list === undefined || list === INVALID) return list;
  if (list.length === 0) {
    c.error(path, emptyMessage);
    return INVALID;
  }
  const out: string[] = [];
  let ok = true;
  list.forEach((entry, i) => {
    const parsed = parseNetwork(entry);
    if (!parsed.ok) {
      c.error([...path, i], parsed.message);
      ok = false;
    } else if (!out.includes(parsed.range.cidr)) out.push(parsed.range.cidr);
  });
  return ok ? out : INVALID;
}

/** Validates the top-level `allowed_networks`; undefined when absent (everyone may connect). */
export function checkAllowedNetworks(c: Checker, raw: unknown): Read<string[]> {
  return checkNetworkList(c, raw, ['allowed_networks'], 'an empty list refuses every client; leave allowed_networks out to let every address connect');
}
