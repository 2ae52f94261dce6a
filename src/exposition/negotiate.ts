/**
 * Content negotiation for a scrape: which exposition format the `Accept` header asks for, and
 * whether `Accept-Encoding` allows gzip. Follows RFC 9110 §12.5.1 (media ranges with `q`), with
 * client_golang's tie-breaking: the first acceptable range of the highest weight wins, and a
 * header that accepts nothing we write falls back to the text format 0.0.4 (Prometheus 2.x sends
 * `application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,
 * text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`).
 */
import type { ExpositionFormat } from './model.js';
import { OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE } from './render.js';
import { PROTOBUF_CONTENT_TYPE } from './protobuf/codec.js';

/** The format chosen for a response and its `Content-Type`. */
export interface NegotiatedFormat {
  format: ExpositionFormat;
  contentType: string;
}

const TEXT: NegotiatedFormat = { format: 'text', contentType: TEXT_CONTENT_TYPE };
const OPENMETRICS: NegotiatedFormat = { format: 'openmetrics', contentType: OPENMETRICS_CONTENT_TYPE };
const OPENMETRICS_001: NegotiatedFormat = {
  format: 'openmetrics',
  contentType: 'application/openmetrics-text; version=0.0.1; charset=utf-8',
};

interface MediaRange {
  type: string;
  params: Map<string, string>;
  q: number;
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

function parseRange(item: string): MediaRange | undefined {
  const [head, ...rest] = item.split(';');
  const type = head!.trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$|^\*\/\*$/.test(type)) return undefined;
  const params = new Map<string, string>();
  let q = 1;
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq === -1) continue;
    const key = p.slice(0, eq).trim().toLowerCase();
    const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (key === 'q') {
      const n = Number(value);
      // RFC 9110 qvalue: 0 to 1 with up to three decimals; anything else makes the range unusable.
      if (!/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value) || !Number.isFinite(n)) return undefined;
      q = n;
    } else params.set(key, value);
  }
  return { type, params, q };
}

// --- protobuf (issue #15, deliverable 3; the lead reconciles with the negotiation rework) ---
const PROTOBUF: NegotiatedFormat = { format: 'protobuf', contentType: PROTOBUF_CONTENT_TYPE };

/** Options of {@link negotiateFormat}. */
export interface NegotiateOptions {
  /** The pass can answer delimited MetricFamily protobuf (client_golang offers it to any scraper that asks). */
  protobuf?: boolean;
}

/** client_golang's rule: protobuf is `application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`. */
function offersProtobuf(range: MediaRange): boolean {
  return range.type === 'application/vnd.google.protobuf' && range.params.get('proto') === 'io.prometheus.client.MetricFamily' && range.params.get('encoding') === 'delimited';
}
// --- end protobuf ---

/** What a media range offers, or undefined when it names nothing we write. */
function offer(range: MediaRange, options?: NegotiateOptions): NegotiatedFormat | undefined {
  if (options?.protobuf && offersProtobuf(range)) return PROTOBUF;
  const version = range.params.get('version');
  switch (range.type) {
    case 'application/openmetrics-text':
      if (version === undefined || version === '1.0.0') return OPENMETRICS;
      if (version === '0.0.1') return OPENMETRICS_001;
      return undefined;
    case 'text/plain':
      // `version=1.0.0` is the UTF-8-names variant; legacy names are a valid instance of it.
      return version === undefined || version === '0.0.4' || version === '1.0.0' ? TEXT : undefined;
    case 'text/*':
    case '*/*':
      return TEXT;
    case 'application/*':
      return OPENMETRICS;
    default:
      return undefined;
  }
}

/**
 * The format to answer a scrape with.
 * @example
 * negotiateFormat('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5').format; // 'openmetrics'
 * negotiateFormat(undefined).format; // 'text'
 * negotiateFormat('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited', { protobuf: true }).format; // 'protobuf'
 */
export function negotiateFormat(accept: string | undefined, options?: NegotiateOptions): NegotiatedFormat {
  if (!accept) return TEXT;
  let best: NegotiatedFormat | undefined;
  let bestQ = 0;
  for (const item of splitList(accept)) {
    const range = parseRange(item);
    if (!range || range.q <= bestQ) continue;
    const o = offer(range, options);
    if (o) {
      best = o;
      bestQ = range.q;
    }
  }
  return best ?? TEXT;
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
