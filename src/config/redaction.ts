/**
 * The `redaction` section (scrapeguard extension): which labels are dropped, masked or hashed,
 * which metric families are dropped, what is scrubbed from HELP text, and which secret detectors
 * run. Patterns are validated here (and compiled again, once per config generation, by
 * `exposition/redact.ts`); the hash key file is read through `readMaterial`, so it is watched.
 *
 * ```yaml
 * redaction:
 *   drop_labels: ['password|api_key|secret|token']   # anchored regexes on label names
 *   mask_labels: ['dsn', 'connection_string']         # value → mask_value
 *   mask_value: '[REDACTED]'                          # default
 *   hash_labels: ['user', 'email']                    # value → HMAC-SHA256, 16 hex digits
 *   hash_key_file: hash.key                           # ≥ 16 bytes; without it: per-process key
 *   drop_metrics: ['debug_.*']                        # anchored regexes on family names
 *   redact_help: ['password=\S+']                     # unanchored, replaced by mask_value
 *   detect_secrets: true                              # or false, [names…], or {name: bool}
 * ```
 */
import { SECRET_DETECTORS } from '../exposition/secrets.js';
import { Checker, INVALID, isMapping, kind, quote, readMaterial, unknownKeyMessage, type Read } from './checker.js';
import type { KeyPath } from './locate.js';
import type { ResolvedRedaction } from './schema.js';

export const REDACTION_KEYS = [
  'drop_labels',
  'mask_labels',
  'mask_value',
  'hash_labels',
  'hash_key_file',
  'drop_metrics',
  'redact_help',
  'detect_secrets',
] as const;

/** `[REDACTED]`: what a masked label value or scrubbed HELP fragment becomes by default. */
export const DEFAULT_MASK_VALUE = '[REDACTED]';
/** Shortest accepted `hash_key_file` content, bytes (after trimming trailing whitespace). */
export const MIN_HASH_KEY_BYTES = 16;

/**
 * The section's defaults: nothing dropped, masked or hashed; every secret detector on.
 * @example
 * const redactor = compileRedaction({ ...defaultRedaction(), dropLabels: ['password|token'] });
 */
export function defaultRedaction(): ResolvedRedaction {
  return { dropLabels: [], maskLabels: [], maskValue: DEFAULT_MASK_VALUE, hashLabels: [], dropMetrics: [], redactHelp: [], detectSecrets: 'all' };
}

/** A list of regexes; each must compile (anchored unless `anchored` is false). */
function patterns(c: Checker, value: unknown, path: KeyPath, anchored = true): Read<string[]> {
  const list = c.textList(value, path);
  if (list === undefined || list === INVALID) return list;
  let ok = true;
  list.forEach((p, i) => {
    if (p === '') {
      c.error([...path, i], 'empty pattern');
      ok = false;
      return;
    }
    try {
      const re = new RegExp(anchored ? `^(?:${p})$` : p, 'u');
      // A scrubbing pattern that matches nothing at all would insert mask_value between every character.
      if (!anchored && re.test('')) {
        c.error([...path, i], `pattern ${quote(p)} matches the empty string; it must match some text`);
        ok = false;
      }
    } catch (error) {
      c.error([...path, i], `invalid regular expression ${quote(p)}: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`);
      ok = false;
    }
  });
  return ok ? list : INVALID;
}

function detectors(c: Checker, value: unknown, path: KeyPath): Read<'all' | string[]> {
  if (value === undefined || value === null) return undefined;
  const names = SECRET_DETECTORS.map((d) => d.name);
  if (typeof value === 'boolean') return value ? 'all' : [];
  if (Array.isArray(value)) {
    const list = c.textList(value, path);
    if (list === undefined || list === INVALID) return list;
    let ok = true;
    list.forEach((n, i) => {
      if (!names.includes(n)) {
        c.error([...path, i], unknownKeyMessage(n, names).replace(/^unknown key/, 'unknown detector'));
        ok = false;
      }
    });
    return ok ? [...new Set(list)] : INVALID;
  }
  if (isMapping(value)) {
    const on = new Set(names);
    let ok = true;
    for (const [name, flag] of Object.entries(value)) {
      if (!names.includes(name)) {
        c.error([...path, name], unknownKeyMessage(name, names).replace(/^unknown key/, 'unknown detector'));
        ok = false;
        continue;
      }
      const b = c.bool(flag, [...path, name]);
      if (b === INVALID || b === undefined) ok = b !== INVALID && ok;
      else if (!b) on.delete(name);
    }
    if (!ok) return INVALID;
    return on.size === names.length ? 'all' : names.filter((n) => on.has(n));
  }
  c.error(path, `expected true, false, a list of detector names or a mapping of detector names to booleans, got ${kind(value)}`);
  return INVALID;
}

/**
 * Validates `redaction` and reads its key file.
 * @returns the resolved section (defaults when absent), or INVALID after reporting problems.
 */
export async function checkRedaction(c: Checker, raw: unknown): Promise<ResolvedRedaction | typeof INVALID> {
  const P: KeyPath = ['redaction'];
  const m = c.mapping(raw, P, REDACTION_KEYS);
  if (m === INVALID) return INVALID;
  const out = defaultRedaction();
  if (m === undefined) return out;
  const at = (key: string): KeyPath => [...P, key];
  const before = c.issues.length;

  const dropLabels = patterns(c, m.drop_labels, at('drop_labels'));
  const maskLabels = patterns(c, m.mask_labels, at('mask_labels'));
  const hashLabels = patterns(c, m.hash_labels, at('hash_labels'));
  const dropMetrics = patterns(c, m.drop_metrics, at('drop_metrics'));
  const redactHelp = patterns(c, m.redact_help, at('redact_help'), false);
  const maskValue = c.text(m.mask_value, at('mask_value'));
  const detect = detectors(c, m.detect_secrets, at('detect_secrets'));
  const keyFile = c.text(m.hash_key_file, at('hash_key_file'));

  if (Array.isArray(dropLabels)) out.dropLabels = dropLabels;
  if (Array.isArray(maskLabels)) out.maskLabels = maskLabels;
  if (Array.isArray(hashLabels)) out.hashLabels = hashLabels;
  if (Array.isArray(dropMetrics)) out.dropMetrics = dropMetrics;
  if (Array.isArray(redactHelp)) out.redactHelp = redactHelp;
  if (typeof maskValue === 'string') out.maskValue = maskValue;
  if (detect !== undefined && detect !== INVALID) out.detectSecrets = detect;

  if (typeof keyFile === 'string' && keyFile !== '') {
    const read = await readMaterial(c, at('hash_key_file'), 'hash_key_file', keyFile);
    if (read) {
      const key = Buffer.from(read.pem.replace(/\s+$/, ''), 'utf8');
      if (key.length < MIN_HASH_KEY_BYTES) {
        c.error(
          at('hash_key_file'),
          `${quote(read.abs)} holds ${key.length} bytes; use at least ${MIN_HASH_KEY_BYTES} random bytes (e.g. head -c 32 /dev/urandom | base64 > FILE)`,
        );
      } else {
        out.hashKeyFile = read.abs;
        // Not enumerable: the key never reaches a log line or a serialized config.
        Object.defineProperty(out, 'hashKey', { value: key, enumerable: false });
      }
    }
  } else if (keyFile === '') {
    c.error(at('hash_key_file'), 'must name a file');
  }
  if (out.hashLabels.length > 0 && out.hashKeyFile === undefined && c.issues.length === before) {
    c.warn('redaction.hash_labels is set without redaction.hash_key_file: hashes use a random per-process key and change on every restart');
  }
  return c.issues.length > before ? INVALID : out;
}
