/**
 * Validator of `audit_log`: JSON lines to a file (appended, 0600, size-based rotation) or to
 * stdout. The directory of a file must exist; the file itself is created on first write.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { ResolvedAuditLog } from './schema.js';
import { Checker, INVALID, osReason, quote, type Read } from './checker.js';

const KEYS = ['path', 'stdout', 'max_size_bytes', 'keep'] as const;
const DEFAULT_MAX_SIZE = 100 * 1024 * 1024;
const DEFAULT_KEEP = 5;

/** Validates `audit_log`; undefined when absent. */
export async function checkAuditLog(c: Checker, raw: unknown): Promise<Read<ResolvedAuditLog>> {
  const P = ['audit_log'] as const;
  const m = c.mapping(raw, P, KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const before = c.issues.length;
  const path = c.text(m.path, [...P, 'path']);
  const stdout = c.bool(m.stdout, [...P, 'stdout']);
  const maxSize = c.int(m.max_size_bytes, [...P, 'max_size_bytes'], 0);
  const keep = c.int(m.keep, [...P, 'keep'], 1);
  if (typeof maxSize === 'number' && maxSize > 0 && maxSize < 4096)
    c.error([...P, 'max_size_bytes'], `must be 0 (no rotation) or at least 4096, got ${maxSize}`);
  if (path === '') c.error([...P, 'path'], 'empty file name');
  if (typeof path === 'string' && stdout === true) c.error(P, 'set either path or stdout: true, not both');
  else if (path === undefined && stdout !== true && stdout !== INVALID) c.error(P, 'set path (a file) or stdout: true');
  if (typeof path === 'string' && path !== '' && stdout !== true) {
    const abs = resolve(c.source.baseDir, path);
    try {
      const dir = await stat(dirname(abs));
      if (!dir.isDirectory()) c.error([...P, 'path'], `${quote(dirname(abs))} is not a directory`);
      const file = await stat(abs).catch(() => undefined);
      if (file && !file.isFile()) c.error([...P, 'path'], `${quote(abs)} is not a regular file`);
    } catch (error) {
      c.error([...P, 'path'], `cannot use directory ${quote(dirname(abs))}: ${osReason(error)}`);
    }
    if (c.issues.length > before) return INVALID;
    return {
      kind: 'file',
      path: abs,
      maxSizeBytes: typeof maxSize === 'number' ? maxSize : DEFAULT_MAX_SIZE,
      keep: typeof keep === 'number' ? keep : DEFAULT_KEEP,
    };
  }
  if (c.issues.length > before) return INVALID;
  return { kind: 'stdout' };
}
