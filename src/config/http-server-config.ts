/**
 * `http_server_config`: HTTP/2 on or off and the extra response headers exporter-toolkit allows
 * (its web/handler.go allow-list, values case-sensitive).
 */
import { Checker, INVALID, quote } from './checker.js';

const HTTP_KEYS = ['http2', 'headers'] as const;
/** exporter-toolkit's allow-list of extra response headers (web/handler.go), values case-sensitive. */
const EXTRA_HEADERS: ReadonlyMap<string, readonly string[] | undefined> = new Map([
  ['Strict-Transport-Security', undefined],
  ['X-Content-Type-Options', ['nosniff']],
  ['X-Frame-Options', ['deny', 'sameorigin']],
  ['X-XSS-Protection', undefined],
  ['Content-Security-Policy', undefined],
]);
export function checkHttp(c: Checker, raw: unknown): { http2: boolean; headers: Record<string, string> } | typeof INVALID {
  const P = ['http_server_config'] as const;
  const m = c.mapping(raw, P, HTTP_KEYS);
  if (m === INVALID) return INVALID;
  const http2 = m ? c.bool(m.http2, [...P, 'http2']) : undefined;
  const headers: Record<string, string> = {};
  const hp = [...P, 'headers'] as const;
  const h = m ? c.mapping(m.headers, hp) : undefined;
  let ok = http2 !== INVALID && h !== INVALID;
  if (h && h !== INVALID) {
    // exporter-toolkit's validateHeaderConfig: an allow-list of names, enumerated values, both case-sensitive.
    for (const [name, rawValue] of Object.entries(h)) {
      const path = [...hp, name];
      if (!EXTRA_HEADERS.has(name)) {
        const other = [...EXTRA_HEADERS.keys()].find((k) => k.toLowerCase() === name.toLowerCase());
        c.error(
          path,
          `HTTP header ${JSON.stringify(name)} can not be configured${other ? ` (names are case-sensitive: write ${JSON.stringify(other)})` : `; allowed: ${[...EXTRA_HEADERS.keys()].join(', ')}`}`,
        );
        ok = false;
        continue;
      }
      const value = rawValue === null || rawValue === undefined ? '' : c.text(rawValue, path);
      if (value === INVALID || value === undefined) {
        ok = false;
        continue;
      }
      const allowed = EXTRA_HEADERS.get(name);
      if (allowed && !allowed.includes(value)) {
        c.error(path, `invalid value for ${name}. Expected one of: [${allowed.map((v) => JSON.stringify(v)).join(' ')}], but got: ${quote(value)}`);
        ok = false;
      } else if (value === '') {
        c.error(path, `empty value for ${name}`);
        ok = false;
      } else if (/[\0-\x08\x0a-\x1f\x7f]/.test(value)) {
        c.error(path, `the value of ${name} contains a control character, which HTTP header values cannot carry`);
        ok = false;
      } else if (/[^\t\x20-\xff]/.test(value)) {
        // Node refuses to write such a header (ERR_INVALID_CHAR): it would fail every scrape.
        c.error(path, `the value of ${name} contains a character outside Latin-1, which HTTP header values cannot carry; percent-encode it`);
        ok = false;
      } else {
        headers[name] = value;
      }
    }
  }
  if (!ok || http2 === INVALID) return INVALID;
  return { http2: http2 ?? true, headers };
}
