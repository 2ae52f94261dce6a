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
/** `header_auth.keys[]` entries (validated here, with the token entries they mirror). */
const KEY_KEYS = ['name', 'key_sha256', 'key_file', 'groups', 'expires_at'] as const;
const HEX64 = /^[0-9a-fA-F]{64}$/;
/** Below 128 bits of base64 text a token can be guessed; the CLI makes 256-bit ones. */
const SHORT_TOKEN = 22;

/** SHA-256 of a token as lower-case hex: what `token_sha256` and the revocation file hold. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A value that should be a digest; describes it without echoing it (it may be the token itself). */
function digestProblem(value: string, spec: SecretEntrySpec = BEARER_ENTRY): string | undefined {
  if (HEX64.test(value)) return undefined;
  return `must be the SHA-256 of the ${spec.noun} as 64 hex digits (${spec.tool} prints it); got a ${value.length}-character value (not shown: it may be the ${spec.noun} itself)`;
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
export async function readRevoked(c: Checker, path: KeyPath, file: string): Promise<Read<string[]>> {
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
async function warnIfShared(c: Checker, abs: string, noun: 'token' | 'key' = 'token'): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const mode = (await stat(abs)).mode & 0o777;
    if (mode & 0o077) c.warn(`${noun} file ${quote(abs)} is readable by group/others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600`);
  } catch {
    // Just read successfully; a failing stat changes nothing about the token itself.
  }
}

/**
 * What differs between a `bearer_auth.tokens` entry and a `header_auth.keys` entry: the key
 * names, the noun in messages, the CLI that makes one, and what a valid secret looks like.
 */
export interface SecretEntrySpec {
  readonly noun: 'token' | 'key';
  readonly digestKey: string;
  readonly fileKey: string;
  readonly tool: string;
  /** Why a secret read from a file is unusable (it is never echoed), or undefined. */
  readonly shapeProblem: (secret: string) => string | undefined;
}

const BEARER_ENTRY: SecretEntrySpec = {
  noun: 'token',
  digestKey: 'token_sha256',
  fileKey: 'token_file',
  tool: '`scrapeguard token`',
  shapeProblem: (token) => (/[\s]/.test(token) ? 'holds whitespace inside the token (a bearer token is one token68 word, RFC 6750 §2.1)' : undefined),
};

/**
 * Validates one secret entry (`{name, <digestKey> | <fileKey>, groups, expires_at}`); shared by
 * `bearer_auth.tokens` and `header_auth.keys`.
 */
export async function checkSecretEntry(c: Checker, raw: unknown, path: KeyPath, spec: SecretEntrySpec = BEARER_ENTRY): Promise<Read<ResolvedBearerToken>> {
  const { noun, digestKey, fileKey } = spec;
  // Two literal key lists (not one built from the spec): docs-coverage reads them from the source.
  const m = spec.noun === 'token' ? c.mapping(raw, path, TOKEN_KEYS) : c.mapping(raw, path, KEY_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) {
    c.error(path, `expected a ${noun} entry {name, ${digestKey} | ${fileKey}}, got nothing`);
    return INVALID;
  }
  const before = c.issues.length;
  const name = c.text(m.name, [...path, 'name']);
  if (name === undefined || name === '') c.error([...path, 'name'], `missing name: every ${noun} needs a name (the principal its callers are known as)`);
  const digestText = c.text(m[digestKey], [...path, digestKey]);
  const file = c.text(m[fileKey], [...path, fileKey]);
  const groups = checkGroups(c, m.groups, [...path, 'groups']);
  const expiresText = c.text(m.expires_at, [...path, 'expires_at'], 'an RFC 3339 time');

  let sha256: string | undefined;
  if (digestText !== undefined && digestText !== INVALID && file !== undefined && file !== INVALID) {
    c.error(path, `set either ${digestKey} or ${fileKey}, not both`);
  } else if (typeof digestText === 'string') {
    const problem = digestProblem(digestText, spec);
    if (problem) c.error([...path, digestKey], problem);
    else sha256 = digestText.toLowerCase();
  } else if (typeof file === 'string') {
    if (file === '') c.error([...path, fileKey], 'empty file name');
    else {
      const got = await readMaterial(c, [...path, fileKey], fileKey, file);
      if (got) {
        // One trailing newline (or CRLF) is what `echo` and most secret tools add; it is not part of the secret.
        const secret = got.pem.replace(/\r?\n$/, '');
        const shape = secret === '' ? undefined : spec.shapeProblem(secret);
        if (secret === '') c.error([...path, fileKey], `${quote(got.abs)} is empty`);
        else if (shape !== undefined) c.error([...path, fileKey], `${quote(got.abs)} ${shape}`);
        else {
          if (secret.length < SHORT_TOKEN)
            c.warn(`${quote(got.abs)}: the ${noun} is only ${secret.length} characters long; use ${spec.tool} for a 256-bit one`);
          await warnIfShared(c, got.abs, noun);
          sha256 = tokenDigest(secret);
        }
      }
    }
  } else if (digestText === undefined && file === undefined) {
    c.error(path, `missing ${digestKey} or ${fileKey}`);
  }

  let expiresAt: number | undefined;
  if (typeof expiresText === 'string') {
    expiresAt = parseRfc3339(expiresText);
    if (expiresAt === undefined) c.error([...path, 'expires_at'], `invalid time ${quote(expiresText)}; use RFC 3339 with a zone, e.g. "2027-01-31T00:00:00Z"`);
    else if (expiresAt <= Date.now()) c.warn(`${typeof name === 'string' ? `${noun} ${quote(name)}` : `a ${noun}`} expired at ${expiresText}: it is refused`);
  }
  if (c.issues.length > before || typeof name !== 'string' || sha256 === undefined || groups === INVALID) return INVALID;
  return { name, sha256, groups: groups ?? [], ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** Duplicate names or secrets among validated entries are errors (one secret, one name). */
export function checkUniqueEntries(c: Checker, entries: readonly ResolvedBearerToken[], listPath: KeyPath, noun: 'token' | 'key'): void {
  const names = new Map<string, number>();
  const digests = new Map<string, number>();
  entries.forEach((t, i) => {
    if (names.has(t.name))
      c.error(
        [...listPath, i, 'name'],
        `duplicate ${noun} name ${quote(t.name)} (also entry ${names.get(t.name)}); names identify callers in rules and audit lines`,
      );
    names.set(t.name, i);
    if (digests.has(t.sha256)) c.error([...listPath, i], `same ${noun} as entry ${digests.get(t.sha256)}: one ${noun} must map to one name`);
    digests.set(t.sha256, i);
  });
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
      const t = await checkSecretEntry(c, m.tokens[i], [...P, 'tokens', i]);
      if (t && t !== INVALID) tokens.push(t);
    }
  }
  checkUniqueEntries(c, tokens, [...P, 'tokens'], 'token');
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
