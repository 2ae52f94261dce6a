/**
 * The sidecar's pass-through: when nothing in this config generation can change a scrape for this
 * caller (no redaction rule, no secret detector, no access filter, no export limit) and the
 * upstream answered in exactly the text format and name escaping the scraper negotiated, its body
 * is sent as it came, without parsing it: parse → redact → render of a 10,000-series body is
 * most of a sidecar's CPU, and it would reproduce the same series.
 *
 * What it gives up: the output-always-parses guarantee. The full path parses the upstream's text
 * strictly and answers 502 when it does not parse; pass-through checks only what it must to keep
 * the negotiated contract (media type, version, charset, escaping; no quoted UTF-8 name reaches a
 * scraper that asked for escaped names, conservatively: any `"` right after `{` or `,` falls back)
 * and otherwise trusts the exporter's syntax, as nginx would. Size and time limits still apply
 * (the upstream source enforces them before anything is passed), the scrape is still audited
 * (the sample lines are counted from the bytes), and the sidecar's own families are still
 * appended (rendered in the negotiated format; a name clash falls back to the full path).
 *
 * gzip: when the upstream sent gzip and the scraper takes gzip, the compressed bytes go through
 * as they came (the size cap was still applied to the decoded bytes); the sidecar's own families
 * follow as a second gzip member (RFC 1952 §2.2: a gzip file is a series of members; Go's and
 * Node's readers read them all). An OpenMetrics body with families to add, or an upstream answer
 * the scraper cannot take compressed, is decoded/encoded instead.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { SeriesFilter } from '../access/filter.js';
import type { ResolvedSeriesLimits } from '../config/schema.js';
import { textFamilyName, type MetricFamily } from './model.js';
import type { NegotiatedFormat } from './negotiate.js';
import type { Redactor } from './redact.js';
import { renderExposition } from './render.js';
import type { SourceOutput, SourceRequest } from './source.js';

const gzip = promisify(gzipCallback);

/** What decides whether a scrape may pass through. */
export interface PassThroughContext {
  /** The format the scraper negotiated. */
  negotiated: NegotiatedFormat;
  /** Whether the scraper takes gzip. */
  gzip: boolean;
  redactor: Redactor;
  filter?: SeriesFilter | undefined;
  limits?: ResolvedSeriesLimits | undefined;
}

/** A scrape answered by pass-through (the shape of the pipeline's rendered exposition). */
export interface PassedThrough {
  contentType: string;
  contentEncoding?: string;
  body: Buffer;
  /** Sample lines sent (counted from the bytes). */
  seriesReturned: number;
  seriesWithheld: number;
}

/** Media type and parameters of a `Content-Type` (names lower-case, quotes removed). */
function mediaOf(contentType: string): { media: string; params: Map<string, string> } {
  const [media = '', ...rest] = contentType.split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq === -1) continue;
    params.set(
      p.slice(0, eq).trim().toLowerCase(),
      p
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1'),
    );
  }
  return { media: media.trim().toLowerCase(), params };
}

/** The version the negotiated content type names (`0.0.4`, `1.0.0` or `0.0.1`). */
function negotiatedVersion(negotiated: NegotiatedFormat): string {
  return mediaOf(negotiated.contentType).params.get('version') ?? '';
}

/**
 * What to tell the source so an upstream asks for exactly the scraper's format first; undefined
 * when the scrape cannot pass through whatever the upstream answers (a rule, detector, filter or
 * limit could change it, or the scraper wants protobuf). Then the upstream is asked for its own
 * names, which the rules match.
 */
export function passThroughRequest(ctx: PassThroughContext): SourceRequest['passThrough'] {
  if (!mayPassThrough(ctx)) return undefined;
  const format = ctx.negotiated.format;
  if (format === 'protobuf') return undefined;
  return { format, version: negotiatedVersion(ctx.negotiated), escaping: ctx.negotiated.escaping };
}

function mayPassThrough(ctx: PassThroughContext): boolean {
  return ctx.redactor.changesNothing === true && ctx.filter === undefined && ctx.limits === undefined && ctx.negotiated.format !== 'protobuf';
}

/**
 * Whether the upstream's `Content-Type` is exactly what the scraper negotiated: same media type
 * and version, UTF-8, and names escaped as asked (an answer without `escaping=` is accepted for
 * `underscores` and `values`, whose escaped form of a legacy name is the name itself; the body is
 * then checked for quoted names by {@link hasQuotedName}).
 */
function sameFormat(upstream: string, negotiated: NegotiatedFormat): boolean {
  const up = mediaOf(upstream);
  const want = mediaOf(negotiated.contentType);
  if (up.media !== want.media) return false;
  const version = up.params.get('version');
  if (negotiated.format === 'text' ? version !== undefined && version !== '0.0.4' : version !== want.params.get('version')) return false;
  const charset = up.params.get('charset');
  if (charset !== undefined && charset.toLowerCase() !== 'utf-8') return false;
  const escaping = up.params.get('escaping');
  if (negotiated.escaping === 'allow-utf-8') return escaping === undefined || ['allow-utf-8', 'underscores', 'dots', 'values'].includes(escaping);
  if (escaping === undefined) return negotiated.escaping !== 'dots';
  return escaping === negotiated.escaping;
}

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const HASH = 0x23;
const QUOTE = 0x22;

/** Whether some occurrence of `lead` in `bytes` is followed by spaces or tabs and then a `"`. */
function quoteAfter(bytes: Buffer, lead: string): boolean {
  for (let i = bytes.indexOf(lead); i !== -1; i = bytes.indexOf(lead, i + 1)) {
    let j = i + lead.length;
    while (j < bytes.length && (bytes[j] === SPACE || bytes[j] === TAB)) j++;
    // `{"`/`,"` need no blank between; HELP/TYPE/UNIT need at least one.
    if (bytes[j] === QUOTE && (lead.length === 1 || j > i + lead.length)) return true;
  }
  return false;
}

/**
 * Whether the text could hold a quoted (UTF-8) metric or label name: a `"` after `{` or `,`
 * (blanks between), or after `HELP`, `TYPE` or `UNIT` and blanks (a comment line naming a quoted
 * family). Conservative: a label value or HELP text that happens to hold such a sequence also
 * answers true (the scrape then takes the full path, which is only slower). Built on native
 * substring search: a body with no such sequence is read a few times by memchr-speed scans.
 */
export function hasQuotedName(bytes: Buffer): boolean {
  if (bytes.includes('{"') || bytes.includes(',"')) return true;
  for (const lead of ['{ ', '{\t', ', ', ',\t']) if (bytes.includes(lead) && quoteAfter(bytes, lead[0]!)) return true;
  for (const word of ['HELP', 'TYPE', 'UNIT']) if (quoteAfter(bytes, word)) return true;
  return false;
}

/** Sample lines in exposition text: lines neither empty nor comments. */
export function countSampleLines(bytes: Buffer): number {
  let n = 0;
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end === -1) end = bytes.length;
    if (end > start && bytes[start] !== HASH) n++;
    start = end + 1;
  }
  return n;
}

/** The shortest prefix check that tells whether `bytes` could hold one of `names`. */
function mayContainAny(bytes: Buffer, names: readonly string[]): boolean {
  if (names.length === 0) return false;
  let prefix = names[0]!;
  for (const n of names) {
    let k = 0;
    while (k < prefix.length && k < n.length && prefix[k] === n[k]) k++;
    prefix = prefix.slice(0, k);
  }
  if (prefix.length >= 4) return bytes.includes(prefix);
  return names.some((n) => bytes.includes(n));
}

const EOF_LINE = Buffer.from('# EOF\n');

/**
 * Answers a scrape from the upstream's bytes when it may pass through; undefined when the full
 * parse → redact → render path must run (nothing has been consumed: the same output is parsed).
 */
export async function passThrough(out: SourceOutput, ctx: PassThroughContext): Promise<PassedThrough | undefined> {
  if (!mayPassThrough(ctx) || !('body' in out) || out.raw === undefined) return undefined;
  const { negotiated } = ctx;
  if (!sameFormat(out.contentType, negotiated)) return undefined;
  const bytes = out.raw.bytes;
  if (negotiated.escaping !== 'allow-utf-8' && hasQuotedName(bytes)) return undefined;
  const openMetrics = negotiated.format === 'openmetrics';
  let extra: Buffer | undefined;
  let extraSamples = 0;
  if (out.extra !== undefined && out.extra.length > 0) {
    const families: MetricFamily[] = [...out.extra];
    if (mayContainAny(bytes, families.map(textFamilyName))) return undefined;
    const rendered = renderExposition(families, negotiated.format, { escaping: negotiated.escaping });
    extraSamples = rendered.samples;
    let text = rendered.text;
    if (openMetrics) {
      // The upstream's `# EOF` goes last: cut it here, the rendered families bring their own.
      if (!bytes.subarray(bytes.length - EOF_LINE.length).equals(EOF_LINE)) return undefined;
    } else if (bytes.length > 0 && bytes[bytes.length - 1] !== NEWLINE) text = `\n${text}`;
    extra = Buffer.from(text, 'utf8');
  }
  const seriesReturned = countSampleLines(bytes) + extraSamples;
  const answer = (body: Buffer, compressed: boolean): PassedThrough => ({
    contentType: negotiated.contentType,
    ...(compressed ? { contentEncoding: 'gzip' } : {}),
    body,
    seriesReturned,
    seriesWithheld: 0,
  });
  const upstreamGzip = out.raw.gzip;
  if (extra === undefined) {
    if (!ctx.gzip) return answer(bytes, false);
    return answer(upstreamGzip ?? (await gzip(bytes)), true);
  }
  const head = openMetrics ? bytes.subarray(0, bytes.length - EOF_LINE.length) : bytes;
  if (!ctx.gzip) return answer(Buffer.concat([head, extra]), false);
  if (upstreamGzip !== undefined && !openMetrics) return answer(Buffer.concat([upstreamGzip, await gzip(extra)]), true);
  return answer(await gzip(Buffer.concat([head, extra])), true);
}
