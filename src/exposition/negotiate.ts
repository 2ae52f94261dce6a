/**
 * Content negotiation for a scrape: which exposition format and which name escaping the `Accept`
 * header asks for, and whether `Accept-Encoding` allows gzip.
 *
 * The format is chosen exactly as client_golang's promhttp handler chooses it (prometheus/common
 * `expfmt.NegotiateIncludingOpenMetrics` as released up to v0.70, munnerz/goautoneg for the
 * header; read for facts, written anew), because that is what scrapers are tested against:
 *
 * - Media ranges are split at every `,` and `;`, spaces trimmed; type, subtype and parameter names
 *   compare case-sensitively; `q` is read as Go's `strconv.ParseFloat` does (unreadable: 0) and a
 *   range with `q=0` still matches (it only sorts last). Ranges are ordered by goautoneg's
 *   comparison (higher `q` first; at equal `q` a concrete type before `*`) with Go's insertion
 *   sort, which `sort.Sort` uses for up to 12 ranges; only the first {@link MAX_ACCEPT_RANGES}
 *   ranges are read.
 * - In that order, the first range that names something we write wins: protobuf
 *   (`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`,
 *   only when the caller has a protobuf writer), `text/plain` with `version=0.0.4` or none, then
 *   `application/openmetrics-text` with `version=1.0.0`, `0.0.1` or none (none and `0.0.1` answer
 *   `0.0.1`). `*\/*`, `text/*`, `text/plain;version=1.0.0` and OpenMetrics 2.0 match nothing, so
 *   the answer falls back to the text format 0.0.4, as client_golang's does.
 * - The escaping scheme is the `escaping=` parameter (`allow-utf-8`, `underscores`, `dots`,
 *   `values`; anything else is ignored) of the LAST range read up to and including the winner,
 *   else `underscores`. That is client_golang's rule, including its quirk: Prometheus 3.5's header
 *   `application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,…,text/plain;version=0.0.4;q=0.3,…`
 *   sent to a server that does not offer OpenMetrics (node_exporter) gets text 0.0.4 with UTF-8
 *   names, because the escaping of the first range carries over.
 * - The `Content-Type` carries the scheme: `text/plain; version=0.0.4; charset=utf-8; escaping=underscores`.
 */
import { DEFAULT_ESCAPING, ESCAPING_SCHEMES, type EscapingScheme } from './escaping.js';
import type { ExpositionFormat } from './model.js';

/** The format chosen for a response, its name escaping and its `Content-Type`. */
export interface NegotiatedFormat {
  format: ExpositionFormat;
  /** How names are written: kept (`allow-utf-8`) or escaped for a legacy scraper. */
  escaping: EscapingScheme;
  /** The `Content-Type` to answer with, `escaping=` included. */
  contentType: string;
}

/** What the answering side can write. */
export interface NegotiateOptions {
  /**
   * A delimited-protobuf writer is available: the protobuf range may win (default false: the
   * range is skipped as if absent).
   */
  protobuf?: boolean;
  /**
   * OpenMetrics is offered (default true). false answers as a client_golang handler without
   * `EnableOpenMetrics` (node_exporter, Prometheus's own `/metrics`) does.
   */
  openmetrics?: boolean;
}

/** Ranges of an `Accept` header read at most; the rest are ignored (a bound on sorting work). */
export const MAX_ACCEPT_RANGES = 64;

const MEDIA = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
  openmetrics001: 'application/openmetrics-text; version=0.0.1; charset=utf-8',
  protobuf: 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited',
} as const;

interface MediaRange {
  type: string;
  subType: string;
  q: number;
  params: Map<string, string>;
}

/** Go's `strings.Index`-based split at the first `sep`: [before, after] or [s, ''] (goautoneg). */
function cut(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i === -1 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

/** Trims spaces only (goautoneg trims `' '`, not tabs). */
function trimSpaces(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s.charCodeAt(a) === 32) a++;
  while (b > a && s.charCodeAt(b - 1) === 32) b--;
  return s.slice(a, b);
}

const GO_FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `strconv.ParseFloat(s, 32)` as goautoneg uses it: a syntax error reads as 0, overflow as ±Inf. */
function goQ(s: string): number {
  if (GO_FLOAT.test(s)) return Math.fround(Number(s));
  if (/^[+-]?(?:inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  return 0;
}

/** goautoneg's `ParseAccept` without the sort. */
function parseAccept(header: string): MediaRange[] {
  const out: MediaRange[] = [];
  let remaining = header;
  while (remaining.length > 0 && out.length < MAX_ACCEPT_RANGES) {
    let part: string;
    [part, remaining] = cut(remaining, ',');
    part = trimSpaces(part);
    const [media, paramText] = cut(part, ';');
    const [typeText, rest] = cut(media, '/');
    const type = trimSpaces(typeText);
    let subType: string;
    if (rest.length === 0) {
      if (type !== '*') continue;
      subType = '*';
    } else {
      const [sub, extra] = cut(rest, '/');
      if (extra.length > 0) continue;
      subType = trimSpaces(sub);
    }
    const range: MediaRange = { type, subType, q: 1, params: new Map() };
    let params = paramText;
    while (params.length > 0) {
      let p: string;
      [p, params] = cut(params, ';');
      const [key, afterKey] = cut(p, '=');
      if (afterKey.length === 0) continue;
      const [value, afterValue] = cut(afterKey, '=');
      if (afterValue.length !== 0) continue;
      const token = trimSpaces(key);
      if (token === 'q') range.q = goQ(value);
      else range.params.set(token, trimSpaces(value));
    }
    out.push(range);
  }
  return out;
}

/** goautoneg's `Less` (not a strict order; kept as it is so the result matches Go's). */
function less(a: MediaRange, b: MediaRange): boolean {
  if (a.q > b.q) return true;
  if (a.type !== '*' && b.type === '*') return true;
  if (a.subType !== '*' && b.subType === '*') return true;
  return false;
}

/** Go's `insertionSort`, which `sort.Sort` runs for up to 12 elements. */
function goSort(ranges: MediaRange[]): MediaRange[] {
  for (let i = 1; i < ranges.length; i++) {
    for (let j = i; j > 0 && less(ranges[j]!, ranges[j - 1]!); j--) {
      const t = ranges[j]!;
      ranges[j] = ranges[j - 1]!;
      ranges[j - 1] = t;
    }
  }
  return ranges;
}

function answer(format: ExpositionFormat, media: string, escaping: EscapingScheme): NegotiatedFormat {
  return { format, escaping, contentType: `${media}; escaping=${escaping}` };
}

/**
 * The format and name escaping to answer a scrape with, as client_golang would answer the same
 * `Accept` header.
 * @example
 * negotiateFormat('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5');
 * // { format: 'openmetrics', escaping: 'underscores', contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores' }
 * negotiateFormat(undefined).contentType; // 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'
 * negotiateFormat('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited', { protobuf: true }).format; // 'protobuf'
 */
export function negotiateFormat(accept: string | undefined, options: NegotiateOptions = {}): NegotiatedFormat {
  const protobuf = options.protobuf === true;
  const openmetrics = options.openmetrics !== false;
  let escaping: EscapingScheme = DEFAULT_ESCAPING;
  for (const range of goSort(parseAccept(accept ?? ''))) {
    const param = range.params.get('escaping');
    if (param !== undefined && (ESCAPING_SCHEMES as readonly string[]).includes(param)) escaping = param as EscapingScheme;
    const version = range.params.get('version') ?? '';
    const media = `${range.type}/${range.subType}`;
    // client_golang also writes the protobuf text encodings (`text`, `compact-text`); we do not.
    if (
      protobuf &&
      media === 'application/vnd.google.protobuf' &&
      range.params.get('proto') === 'io.prometheus.client.MetricFamily' &&
      range.params.get('encoding') === 'delimited'
    ) {
      return answer('protobuf', MEDIA.protobuf, escaping);
    }
    if (media === 'text/plain' && (version === '0.0.4' || version === '')) return answer('text', MEDIA.text, escaping);
    if (openmetrics && media === 'application/openmetrics-text' && (version === '1.0.0' || version === '0.0.1' || version === '')) {
      return answer('openmetrics', version === '1.0.0' ? MEDIA.openmetrics : MEDIA.openmetrics001, escaping);
    }
  }
  return answer('text', MEDIA.text, escaping);
}

/** Splits `a, b;x="1,2"` at top-level commas (commas inside quoted strings do not split). */
function splitList(header: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (c === '"' && header[i - 1] !== '\\') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(header.slice(start, i));
      start = i + 1;
    }
  }
  out.push(header.slice(start));
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): `gzip` (or `x-gzip`) with q > 0, or
 * `*` with q > 0 when gzip is not named.
 * @example
 * acceptsGzip('gzip'); // true
 * acceptsGzip('gzip;q=0, identity'); // false
 */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  let gzip: number | undefined;
  let star: number | undefined;
  for (const item of splitList(acceptEncoding)) {
    const [coding, ...params] = item.split(';');
    const name = coding!.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    if (!Number.isFinite(q)) q = 0;
    if (name === 'gzip' || name === 'x-gzip') gzip = Math.max(gzip ?? 0, q);
    else if (name === '*') star = q;
  }
  if (gzip !== undefined) return gzip > 0;
  return star !== undefined && star > 0;
}
