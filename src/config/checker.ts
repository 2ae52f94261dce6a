/**
 * The shared vocabulary of config validation: a {@link Checker} that walks a parsed document,
 * records issues at key paths (file, line, column) and reads typed values, plus small helpers.
 * Each config section has its own validator module that uses it; `validate.ts` composes them.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ConfigIssue } from '../errors.js';
import { parseGoDuration } from './duration.js';
import type { KeyPath, Position } from './locate.js';

/** Marks a value that was present but wrong (already reported): dependent checks are skipped. */
/** Where the value being validated came from. */
export interface ConfigSource {
  /** Absolute path of the config file; absent for in-code objects. */
  file?: string;
  /** Permission bits of the config file, for warnings. */
  fileMode?: number;
  /** Directory against which relative file paths are resolved. */
  baseDir: string;
  /** Problems found before validation (YAML syntax); when any, validation is skipped. */
  syntaxIssues?: readonly { position?: Position; message: string }[];
  /** Position of the key at `path` (or of its nearest ancestor); nothing for objects. */
  locate(path: KeyPath): Position | undefined;
  /** Source text of the scalar at `path`; nothing for objects. */
  scalarText(path: KeyPath): string | undefined;
}

export const INVALID = Symbol('invalid');
export type Read<T> = T | undefined | typeof INVALID;
export type Mapping = Record<string, unknown>;

/** Key path as shown to people: `tls_server_config.cipher_suites[1]`, `basic_auth_users["a.b"]`. */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment.length > 64 ? `${segment.slice(0, 64)}…` : segment)}]`;
  }
  return out;
}

/** A non-secret value quoted for a message; text that looks like PEM or is huge is not echoed. */
export function quote(value: string): string {
  if (/-----BEGIN|PRIVATE KEY/.test(value) || value.length > 256) return `(a ${value.length}-character value, not shown)`;
  return JSON.stringify(value);
}

export function kind(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (value instanceof Date) return 'a date';
  if (value instanceof Uint8Array) return 'binary data';
  if (isMapping(value)) return 'a mapping';
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'object'}`;
  return `a ${typeof value}`;
}

export function isMapping(value: unknown): value is Mapping {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const near = allowed
    .map((k) => ({ k, d: levenshtein(key.toLowerCase(), k.toLowerCase()) }))
    .filter(({ d }) => d <= 2)
    .sort((a, b) => a.d - b.d)[0];
  return near ? `unknown key ${quote(key)}; did you mean ${quote(near.k)}?` : `unknown key ${quote(key)}; expected one of: ${allowed.join(', ')}`;
}

export function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const detail = /^[A-Z0-9_]+: ([^,]+)/.exec(e?.message ?? '')?.[1];
  if (e?.code) return detail ? `${e.code} (${detail})` : e.code;
  return e?.message ?? String(err);
}

export function fmtMs(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Collects issues and warnings while walking the document. */
export class Checker {
  readonly issues: ConfigIssue[] = [];
  readonly warnings: string[] = [];
  readonly dependsOn: string[] = [];

  constructor(readonly source: ConfigSource) {}

  error(path: KeyPath, message: string): void {
    const at = this.source.locate(path);
    this.issues.push({
      ...(this.source.file !== undefined ? { file: this.source.file } : {}),
      ...(at ? { line: at.line, column: at.column } : {}),
      path: formatPath(path),
      message,
    });
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  /** A mapping with a fixed set of keys (`allowed`), or any keys when `allowed` is omitted. */
  mapping(value: unknown, path: KeyPath, allowed?: readonly string[]): Read<Mapping> {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) {
      this.error(path, `expected a mapping, got ${kind(value)}`);
      return INVALID;
    }
    if (allowed) {
      for (const key of Object.keys(value)) {
        if (!allowed.includes(key)) this.error([...path, key], unknownKeyMessage(key, allowed));
      }
    }
    return value;
  }

  /**
   * A string. Like yaml.v2 filling a Go string, a YAML number or boolean is read as its source text
   * (`X-XSS-Protection: 1` is `"1"`); for objects, numbers and booleans are converted with `String`.
   */
  text(value: unknown, path: KeyPath, what = 'a string'): Read<string> {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean' || value instanceof Date) {
      const raw = this.source.scalarText(path);
      if (raw !== undefined) return raw;
      if (typeof value !== 'object') return String(value);
    }
    this.error(path, `expected ${what}, got ${kind(value)}`);
    return INVALID;
  }

  bool(value: unknown, path: KeyPath): Read<boolean> {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'boolean') return value;
    this.error(path, `expected a boolean (true or false), got ${kind(value)}`);
    return INVALID;
  }

  /** An integer no smaller than `min`. */
  int(value: unknown, path: KeyPath, min: number): Read<number> {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.error(path, typeof value === 'number' ? `expected an integer, got ${value}` : `expected an integer, got ${kind(value)}`);
      return INVALID;
    }
    if (value < min) {
      this.error(path, `must be at least ${min}, got ${value}`);
      return INVALID;
    }
    return value;
  }

  /** A list of strings; each wrong item is reported. */
  textList(value: unknown, path: KeyPath): Read<string[]> {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) {
      this.error(path, `expected a list, got ${kind(value)}`);
      return INVALID;
    }
    const out: string[] = [];
    let ok = true;
    value.forEach((item: unknown, i) => {
      if (item === null || item === undefined) {
        this.error([...path, i], 'expected a string, got nothing');
        ok = false;
        return;
      }
      const s = this.text(item, [...path, i]);
      if (typeof s === 'string') out.push(s);
      else ok = false;
    });
    return ok ? out : INVALID;
  }

  /** A Go duration in milliseconds; `text` is how it was written, for messages. */
  duration(value: unknown, path: KeyPath): Read<{ ms: number; text: string }> {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') {
      const ms = parseGoDuration(value);
      if (ms === undefined) {
        this.error(path, `invalid duration ${quote(value)}; use Go syntax such as "30s", "1m30s" or "250ms"`);
        return INVALID;
      }
      return { ms, text: value };
    }
    if (typeof value === 'number') {
      const ms = parseGoDuration(value);
      if (ms === undefined) {
        this.error(path, `invalid duration ${value}: a bare number counts nanoseconds and must be an integer; add a unit, e.g. "${value}s"`);
        return INVALID;
      }
      if (value !== 0) {
        this.warn(`${formatPath(path)}: ${value} is read as ${value} nanoseconds (as Go does); write "${value}s" if seconds were meant`);
      }
      return { ms, text: `${value}ns` };
    }
    this.error(path, `expected a duration such as "30s", got ${kind(value)}`);
    return INVALID;
  }
}

export const isSet = (v: Read<string>): boolean => v === INVALID || (typeof v === 'string' && v !== '');
export const isText = (v: Read<string>): v is string => typeof v === 'string' && v !== '';

export async function readMaterial(c: Checker, path: KeyPath, name: string, file: string): Promise<{ pem: string; abs: string } | undefined> {
  if (/-----BEGIN/.test(file) || file.includes('\n')) {
    c.error(path, `${name} must be a file path, but it holds PEM text; put inline PEM in ${name.replace(/_file$/, '')} instead`);
    return undefined;
  }
  const abs = resolve(c.source.baseDir, file);
  if (!c.dependsOn.includes(abs)) c.dependsOn.push(abs);
  try {
    return { pem: await readFile(abs, 'utf8'), abs };
  } catch (err) {
    c.error(path, `cannot read ${name} ${quote(abs)}: ${osReason(err)}`);
    return undefined;
  }
}

/** Group names: non-empty strings. */
export function checkGroups(c: Checker, raw: unknown, path: KeyPath): Read<string[]> {
  const groups = c.textList(raw, path);
  if (groups === INVALID || groups === undefined) return groups;
  let ok = true;
  groups.forEach((g, i) => {
    if (g === '') {
      c.error([...path, i], 'empty group name');
      ok = false;
    }
  });
  return ok ? groups : INVALID;
}
