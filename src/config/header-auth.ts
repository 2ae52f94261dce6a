/**
 * Validator of `header_auth`: API keys presented in a named request header (`X-API-Key` by
 * default), for scrapers that can send a header but no `Authorization` scheme (Prometheus ≥ 2.55
 * `http_headers` with `files`, many hosted scrapers). Mirrors `bearer_auth.tokens`: keys are kept
 * only as SHA-256 digests (written in the config, or read from a file and hashed at load), with
 * groups, expiry and a revocation file; every file read reloads the guard when it changes.
 */
import type { ResolvedHeaderAuth } from './schema.js';
import { checkSecretEntry, checkUniqueEntries, readRevoked, type SecretEntrySpec } from './bearer-auth.js';
import { Checker, INVALID, quote, type Read } from './checker.js';
import type { ResolvedBearerToken } from './schema.js';

const KEYS = ['header', 'keys', 'revoked_sha256_file'] as const;

/** The default header, as most API gateways and hosted scrapers name it. */
export const DEFAULT_KEY_HEADER = 'X-API-Key';

/** RFC 9110 §5.1 field-name: a token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers that already mean something to HTTP, to proxies or to the guard: a key in one of them
 * would be logged, rewritten or consumed by another layer (or clash with another method).
 */
const RESERVED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'host',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'content-type',
  'content-encoding',
  'accept',
  'accept-encoding',
  'user-agent',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  // prometheus/common's ReservedHeaders: Prometheus refuses to send these from http_headers.
  'www-authenticate',
  'proxy-authenticate',
  'x-prometheus-scrape-timeout-seconds',
  'x-prometheus-remote-write-version',
  'x-prometheus-remote-read-version',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
]);

const KEY_ENTRY: SecretEntrySpec = {
  noun: 'key',
  digestKey: 'key_sha256',
  fileKey: 'key_file',
  tool: '`scrapeguard token --header`',
  // A header value Prometheus and Node send unchanged: visible ASCII, no spaces (RFC 9110 §5.5).
  shapeProblem: (key) =>
    /^[\x21-\x7e]+$/.test(key) ? undefined : 'holds whitespace, control or non-ASCII characters (a key is sent as one header value of visible ASCII)',
};

/** Validates `header_auth`; undefined when the section is absent. */
export async function checkHeaderAuth(c: Checker, raw: unknown): Promise<Read<ResolvedHeaderAuth>> {
  const P = ['header_auth'] as const;
  const m = c.mapping(raw, P, KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const before = c.issues.length;

  const headerText = c.text(m.header, [...P, 'header']);
  let header = DEFAULT_KEY_HEADER.toLowerCase();
  if (typeof headerText === 'string') {
    if (!FIELD_NAME.test(headerText)) c.error([...P, 'header'], `${quote(headerText)} is not an HTTP header name (letters, digits and !#$%&'*+.^_\`|~-)`);
    else if (RESERVED.has(headerText.toLowerCase()) || /^(?:sec-|proxy-|:)/i.test(headerText)) {
      c.error(
        [...P, 'header'],
        `${quote(headerText)} is a header HTTP, proxies or other methods already use; choose a dedicated one such as ${DEFAULT_KEY_HEADER}`,
      );
    } else header = headerText.toLowerCase();
  }

  const keys: ResolvedBearerToken[] = [];
  if (m.keys !== undefined && m.keys !== null && !Array.isArray(m.keys)) c.error([...P, 'keys'], 'expected a list of key entries');
  else if (Array.isArray(m.keys)) {
    for (let i = 0; i < m.keys.length; i++) {
      const k = await checkSecretEntry(c, m.keys[i], [...P, 'keys', i], KEY_ENTRY);
      if (k && k !== INVALID) keys.push(k);
    }
  }
  checkUniqueEntries(c, keys, [...P, 'keys'], 'key');
  const revokedFile = c.text(m.revoked_sha256_file, [...P, 'revoked_sha256_file']);
  let revoked: Read<string[]> = [];
  if (revokedFile === '') c.error([...P, 'revoked_sha256_file'], 'empty file name');
  else if (typeof revokedFile === 'string') revoked = await readRevoked(c, [...P, 'revoked_sha256_file'], revokedFile);
  if (keys.length === 0 && c.issues.length === before) {
    c.error([...P, 'keys'], 'header_auth needs at least one key (an empty list would refuse every key; remove the section instead)');
  }
  if (c.issues.length > before || revoked === INVALID || revokedFile === INVALID || headerText === INVALID) return INVALID;
  return { header, keys, revoked: revoked ?? [] };
}
