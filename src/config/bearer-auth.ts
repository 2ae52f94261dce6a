/**
 * Validator of `bearer_auth`: static bearer tokens (RFC 6750) kept only as SHA-256 digests, either
 * written in the config or read from a file (a mounted Kubernetes Secret) and hashed at load, plus
 * a revocation file of digests. Every file read lands in `dependsOn`, so editing a token or
 * revocation file reloads the guard (keep-last-good). No message ever echoes a token.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { ResolvedBearerAuth, ResolvedBearerToken } from './schema.js';
import { checkGroups, Checker, INVALID, quote, readMaterial, type Read } from './checker.js';
import type { KeyPath } from './locate.js';

const KEYS = ['tokens', 'revoked_sha256_file'] as const;
const TOKEN_KEYS = ['name', 'token_sha256', 'token_file', 'groups', 'expires_at'] as const;
const HEX64 = /^[0-9a-fA-F]{64}$/;
/** Below 128 bits of base64 text a token can be guessed; the CLI makes 256-bit ones. */
const SHORT_TOKEN = 22;

/** SHA-256 of a token as lower-case hex: what `token_sha256` and the revocation file hold. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A value that should be a digest; describes it without echoing it (it may be the token itself). */
function digestProblem(value: string): string | undefined {
  if (HEX64.test(value)) return undefined;
  return `must be the SHA-256 of the token as 64 hex digits (\`scrapeguard token\` prints it); got a ${value.length}-character value (not shown: it may be the token itself)`;
}

/**
 * Reads an RFC 3339 time (`2026-12-31T23:59:59Z`, or a date `2026-12-31` meaning its start, UTC).
 * A time without a zone is refused: it would depend on the server's time zone.
 */
export function parseRfc3339(text: string): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += 'T00:00:00Z';
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text.replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : undefined;
}


/** Reads a revocation file: one digest per line, blank lines and `#` comments ignored. */
async function readRevoked(c: Checker, path: KeyPath, file: string): Promise<Read<string[]>> {
  const got = await readMaterial(c, path, 'revoked_sha256_file', file);
  if (!got) return INVALID;
  const out = new Set<string>();
  let ok = true;
  got.pem.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const problem = digestProblem(line);
    if (problem) {
      c.error(path, `${quote(got.abs)} line ${i + 1}: ${problem}`);
      ok = false;
    } else out.add(line.toLowerCase());
  });
  return ok ? [...out].sort() : INVALID;
}

/** A token file is a secret like a private key: warn when group or others may read it. */
async function warnIfShared(c: Checker, abs: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const mode = (await stat(abs)).mode & 0o777;
    if (mode & 0o077) c.warn(`token file ${quote(abs)} is readable by group/others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600`);
  } catch {
    // Just read successfully; a failing stat changes nothing about the token itself.
  }
}

async function checkToken(c: Checker, raw: unknown, path: KeyPath): Promise<Read<ResolvedBearerToken>> {
  const m = c.mapping(raw, path, TOKEN_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) {
    c.error(path, 'expected a token entry {name, token_sha256 | token_file}, got nothing');
    return INVALID;
  }
  const before = c.issues.length;
  const name = c.text(m.name, [...path, 'name']);
  if (name === undefined || name === '') c.error([...path, 'name'], 'missing name: every token needs a name (the principal its callers are known as)');
  const digestText = c.text(m.token_sha256, [...path, 'token_sha256']);
  const file = c.text(m.token_file, [...path, 'token_file']);
  const groups = checkGroups(c, m.groups, [...path, 'groups']);
  const expiresText = c.text(m.expires_at, [...path, 'expires_at'], 'an RFC 3339 time');

  let sha256: string | undefined;
  if (digestText !== undefined && digestText !== INVALID && file !== undefined && file !== INVALID) {
    c.error(path, 'set either token_sha256 or token_file, not both');
  } else if (typeof digestText === 'string') {
    const problem = digestProblem(digestText);
    if (problem) c.error([...path, 'token_sha256'], problem);
    else sha256 = digestText.toLowerCase();
  } else if (typeof file === 'string') {
    if (file === '') c.error([...path, 'token_file'], 'empty file name');
    else {
      const got = await readMaterial(c, [...path, 'token_file'], 'token_file', file);
      if (got) {
        // One trailing newline (or CRLF) is what `echo` and most secret tools add; it is not part of the token.
        const token = got.pem.replace(/\r?\n$/, '');
        if (token === '') c.error([...path, 'token_file'], `${quote(got.abs)} is empty`);
        else if (/[\s]/.test(token)) c.error([...path, 'token_file'], `${quote(got.abs)} holds whitespace inside the token (a bearer token is one token68 word, RFC 6750 §2.1)`);
        else {
          if (token.length < SHORT_TOKEN) c.warn(`${quote(got.abs)}: the token is only ${token.length} characters long; use \`scrapeguard token\` for a 256-bit one`);
          await warnIfShared(c, got.abs);
          sha256 = tokenDigest(token);
        }
      }
    }
  } else if (digestText === undefined && file === undefined) {
    c.error(path, 'missing token_sha256 or token_file');
  }

  let expiresAt: number | undefined;
  if (typeof expiresText === 'string') {
    expiresAt = parseRfc3339(expiresText);
    if (expiresAt === undefined) c.error([...path, 'expires_at'], `invalid time ${quote(expiresText)}; use RFC 3339 with a zone, e.g. "2027-01-31T00:00:00Z"`);
    else if (expiresAt <= Date.now()) c.warn(`${typeof name === 'string' ? `token ${quote(name)}` : 'a token'} expired at ${expiresText}: it is refused`);
  }
  if (c.issues.length > before || typeof name !== 'string' || sha256 === undefined || groups === INVALID) return INVALID;
  return { name, sha256, groups: groups ?? [], ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** Validates `bearer_auth`; undefined when the section is absent. */
export async function checkBearerAuth(c: Checker, raw: unknown): Promise<Read<ResolvedBearerAuth>> {
  const P = ['bearer_auth'] as const;
  const m = c.mapping(raw, P, KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const before = c.issues.length;
  const tokens: ResolvedBearerToken[] = [];
  if (m.tokens !== undefined && m.tokens !== null && !Array.isArray(m.tokens)) c.error([...P, 'tokens'], 'expected a list of token entries');
  else if (Array.isArray(m.tokens)) {
    for (let i = 0; i < m.tokens.length; i++) {
      const t = await checkToken(c, m.tokens[i], [...P, 'tokens', i]);
      if (t && t !== INVALID) tokens.push(t);
    }
  }
  const names = new Map<string, number>();
  const digests = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (names.has(t.name)) c.error([...P, 'tokens', i, 'name'], `duplicate token name ${quote(t.name)} (also entry ${names.get(t.name)}); names identify callers in rules and audit lines`);
    names.set(t.name, i);
    if (digests.has(t.sha256)) c.error([...P, 'tokens', i], `same token as entry ${digests.get(t.sha256)}: one token must map to one name`);
    digests.set(t.sha256, i);
  });
  const revokedFile = c.text(m.revoked_sha256_file, [...P, 'revoked_sha256_file']);
  let revoked: Read<string[]> = [];
  if (revokedFile === '') c.error([...P, 'revoked_sha256_file'], 'empty file name');
  else if (typeof revokedFile === 'string') revoked = await readRevoked(c, [...P, 'revoked_sha256_file'], revokedFile);
  if (tokens.length === 0 && c.issues.length === before) {
    c.error([...P, 'tokens'], 'bearer_auth needs at least one token (an empty list would refuse every bearer token; remove the section instead)');
  }
  if (c.issues.length > before || revoked === INVALID || revokedFile === INVALID) return INVALID;
  return { tokens, revoked: revoked ?? [] };
}
