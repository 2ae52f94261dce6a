/**
 * Validator of `auth_excluded_paths`: exact request paths served without authentication (health
 * probes). The telemetry path may only be listed with `{path: …, force: true}`: exempting the
 * metrics themselves from authentication must be a deliberate act, visible in review.
 */
import { Checker, INVALID, isMapping, kind, quote, type Read } from './checker.js';

/** The default telemetry path, refused without `force` (the guard re-checks its configured one). */
export const DEFAULT_TELEMETRY_PATH = '/metrics';

/** Validates `auth_excluded_paths`; an empty list when absent. */
export function checkAuthExcludedPaths(c: Checker, raw: unknown): Read<{ path: string; force: boolean }[]> {
  const P = ['auth_excluded_paths'] as const;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    c.error(P, `expected a list of paths, got ${kind(raw)}`);
    return INVALID;
  }
  const before = c.issues.length;
  const out: { path: string; force: boolean }[] = [];
  raw.forEach((item: unknown, i) => {
    const at = [...P, i];
    let path: Read<string>;
    let force: Read<boolean> = false;
    if (isMapping(item)) {
      const m = c.mapping(item, at, ['path', 'force']);
      if (m === INVALID || m === undefined) return;
      path = c.text(m.path, [...at, 'path']);
      force = c.bool(m.force, [...at, 'force']) ?? false;
      if (path === undefined) c.error(at, 'missing path');
    } else path = c.text(item, at, 'a path');
    if (typeof path !== 'string' || force === INVALID) return;
    if (!path.startsWith('/') || /[?#\s]/.test(path)) {
      c.error(at, `expected an absolute path without query or spaces (e.g. "/healthz"), got ${quote(path)}`);
      return;
    }
    if (path === DEFAULT_TELEMETRY_PATH && !force) {
      c.error(
        at,
        `${path} is the telemetry path: excluding it serves the metrics without authentication; write {path: ${path}, force: true} if that is really meant`,
      );
      return;
    }
    if (out.some((e) => e.path === path)) c.warn(`auth_excluded_paths: ${quote(path)} is listed twice`);
    out.push({ path, force });
  });
  return c.issues.length > before ? INVALID : out;
}
